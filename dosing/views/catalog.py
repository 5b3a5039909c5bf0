"""The product catalog: everyone with access reads it; pharmacists keep the site's part
(site dosing settings, vial sizes in stock, the GTINs of the packages in stock). Each view:
authorise, bind the form, call a service, then redirect or render."""

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.form_errors import call_service

from ..forms import PresentationGtinForm, PresentationWithdrawForm, ProductStockForm, SiteSettingsForm
from ..models import Product, ProductPresentation, SiteSettings
from ..services import catalog as services

HISTORY_ROWS = 20


def _get_product(slug: str) -> Product:
    return get_object_or_404(Product.objects.prefetch_related("indications"), slug=slug)


def _posted(request):
    # Not `request.POST or None`: unticking every vial size posts nothing, and that must be refused, not ignored.
    return request.POST if request.method == "POST" else None


def _saved_message(request, what: str, revision_before: int, site: SiteSettings) -> None:
    if site.catalog_revision == revision_before:
        messages.info(request, f"{what}: nothing changed, nothing saved.")
    else:
        messages.success(request, f"{what} saved. The catalog is now at revision {site.catalog_revision}.")


@require_GET
@permission_required("dosing.view_product", raise_exception=True)
def catalog_list(request):
    context = {"products": Product.objects.prefetch_related("indications"), "site": SiteSettings.load()}
    return render(request, "dosing/catalog_list.html", context)


@require_GET
@permission_required("dosing.view_product", raise_exception=True)
def product_detail(request, slug):
    product = _get_product(slug)
    context = {
        "product": product,
        "products": [product],
        "site": SiteSettings.load(),
        "history": product.history.select_related("history_user")[:HISTORY_ROWS],
        "presentations": product.presentations.select_related("added_by"),
    }
    return render(request, "dosing/product_detail.html", context)


@require_http_methods(["GET", "POST"])
@permission_required("dosing.change_sitesettings", raise_exception=True)
def site_settings_edit(request):
    site = SiteSettings.load()
    revision_before = site.catalog_revision
    form = SiteSettingsForm(_posted(request), instance=site)
    if form.is_bound and form.is_valid():
        saved = call_service(form, services.site_settings_update, by=request.user)
        if saved is not None:
            _saved_message(request, "Site dosing settings", revision_before, saved)
            return redirect("dosing:catalog")
    return render(request, "dosing/site_settings_form.html", {"form": form, "site": site})


@require_http_methods(["GET", "POST"])
@permission_required("dosing.change_product", raise_exception=True)
def product_stock_edit(request, slug):
    product = _get_product(slug)
    revision_before = SiteSettings.load().catalog_revision
    form = ProductStockForm(_posted(request), product=product)
    if form.is_bound and form.is_valid():
        saved = call_service(form, services.product_stock_update, by=request.user, product=product)
        if saved is not None:
            _saved_message(request, f"Vial sizes in stock for {product.name}", revision_before, SiteSettings.load())
            return redirect(product)
    return render(request, "dosing/product_stock_form.html", {"form": form, "product": product})


@require_http_methods(["GET", "POST"])
@permission_required("dosing.add_productpresentation", raise_exception=True)
def presentation_gtin_add(request, slug):
    product = _get_product(slug)
    form = PresentationGtinForm(request.POST or None, product=product)
    if form.is_bound and form.is_valid():
        saved = call_service(form, services.presentation_gtin_add, by=request.user, product=product)
        if saved is not None:
            messages.success(request, f"GTIN {saved.gtin} is on file for {saved.vial_text}.")
            return redirect(f"{product.get_absolute_url()}#presentations")
    return render(request, "dosing/presentation_form.html", {"form": form, "product": product})


@require_http_methods(["GET", "POST"])
@permission_required("dosing.change_productpresentation", raise_exception=True)
def presentation_gtin_withdraw(request, slug, presentation_id):
    """Withdraw a GTIN put on file by mistake, with a reason; it stays listed, struck through."""
    product = _get_product(slug)
    presentation = get_object_or_404(ProductPresentation.objects.exclude(gtin=""), pk=presentation_id, product=product)
    form = PresentationWithdrawForm(request.POST or None)
    if form.is_bound and form.is_valid():
        saved = call_service(form, services.presentation_gtin_withdraw, by=request.user, presentation=presentation)
        if saved is not None:
            messages.success(request, f"GTIN {saved.gtin} is withdrawn: a scan no longer finds it.")
            return redirect(f"{product.get_absolute_url()}#presentations")
    context = {"form": form, "product": product, "presentation": presentation}
    return render(request, "dosing/presentation_withdraw.html", context)
