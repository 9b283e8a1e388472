from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Users and roles"

    def ready(self):
        from apps.accounts import receivers, schema  # noqa: F401 - schema registers the scheme
        from apps.accounts.websocket_auth import AccountsWebSocketAuthority
        from apps.core.consumers import register_authority
        from apps.core.ratelimit import register_client_resolver

        receivers.connect()
        register_authority(AccountsWebSocketAuthority())
        register_client_resolver(_api_key_client)


def _api_key_client(request):
    """Rate-limit identity of a request with a valid API key: one window per key."""
    from apps.accounts.authentication import api_key_for_request

    found = api_key_for_request(request)
    if found is None or found[1] is None:
        return None  # no key, or not a valid one: counted against the address
    return "api_key", found[1][1].key_id
