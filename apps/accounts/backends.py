from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UsernameOrEmailBackend(ModelBackend):
    """Log in with the username or the e-mail address (seed 004 logs in with an e-mail)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        user_model = get_user_model()
        # As usernames are stored (apps.accounts.services.user_create: NFKC, trimmed), so
        # a name typed in another Unicode form (NFD, full-width) finds its user.
        username = user_model.normalize_username(username).strip()
        user = user_model.objects.filter(username=username).first()
        if user is None and "@" in username:
            matches = list(user_model.objects.filter(email__iexact=username)[:2])
            user = matches[0] if len(matches) == 1 else None
        if user is None:
            user_model().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
