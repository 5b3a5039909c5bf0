from django.urls import path

from .views import calculator, catalog, orders

app_name = "dosing"

urlpatterns = [
    path("calculator/", calculator.dose_calculator, name="calculator"),
    path("catalog/", catalog.catalog_list, name="catalog"),
    path("catalog/settings/", catalog.site_settings_edit, name="site_settings"),
    path("catalog/<slug:slug>/", catalog.product_detail, name="product"),
    path("catalog/<slug:slug>/stock/", catalog.product_stock_edit, name="product_stock"),
    path("catalog/<slug:slug>/gtins/new/", catalog.presentation_gtin_add, name="presentation_add"),
    path(
        "catalog/<slug:slug>/gtins/<int:presentation_id>/withdraw/",
        catalog.presentation_gtin_withdraw,
        name="presentation_withdraw",
    ),
    path("orders/", orders.order_list, name="order_list"),
    path("orders/new/<uuid:patient_uuid>/", orders.order_create, name="order_create"),
    path("orders/<uuid:order_uuid>/", orders.order_detail, name="order_detail"),
    path("orders/<uuid:order_uuid>/verify/", orders.order_verify, name="order_verify"),
    path("orders/<uuid:order_uuid>/cancel/", orders.order_cancel, name="order_cancel"),
    path("orders/<uuid:order_uuid>/sheet/<int:day>/", orders.order_sheet, name="order_sheet"),
]
