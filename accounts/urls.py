from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("tokens/feeds/", views.feed_create, name="feed_create"),
    path("tokens/feeds/<int:feed_id>/revoke/", views.feed_revoke, name="feed_revoke"),
]
