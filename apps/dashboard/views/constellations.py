"""`/constellations`: the user's constellations; members on a map, members and shares,
localizations (each fix with its 95 % ellipse on the map, one posterior as a heat map)
and a localize form.

Every object access goes through apps.constellations.access.constellation_for
— the one permission check the API and the WebSocket consumers use — and
every write through apps.constellations.services.
"""

from django.contrib.auth import get_user_model
from django.db.models import prefetch_related_objects
from django.shortcuts import redirect
from django.urls import reverse

from apps.accounts.roles import has_permission
from apps.constellations import services
from apps.constellations.access import constellation_for, permission_level
from apps.constellations.models import ConstellationShare
from apps.constellations.representation import localization_payload
from apps.constellations.selectors import (
    constellation_count,
    constellation_members,
    constellation_page,
    constellation_shares,
    localization_get,
    localization_list,
    localization_posterior,
)
from apps.core.exceptions import HeimdallError, PermissionDenied, ValidationFailed
from apps.core.pagination import parse_skip_limit
from apps.dashboard.views.base import ConsoleView
from apps.dashboard.views.stations import map_points
from apps.stations.selectors import station_list

PAGE = 50
LOCALIZATIONS_SHOWN = 50  # the newest fixes on the page and its map


class ConstellationListView(ConsoleView):
    read_permission = "constellations:read"
    write_permission = "constellations:write"
    nav = "constellations"

    def _page(self, request, *, status=200, errors=None, values=None):
        skip, limit = parse_skip_limit(request.GET, PAGE)
        rows = constellation_page(user=request.user, skip=skip, limit=limit)
        prefetch_related_objects(rows, "owner")  # one query for the owners' names
        return self.render(
            request, "dashboard/constellations.html", status=status,
            rows=rows,
            total=constellation_count(user=request.user), skip=skip, limit=limit,
            errors=errors or {}, values=values or {},
        )  # fmt: skip

    def get(self, request):
        return self._page(request)

    def post(self, request):
        """Create (operators, admins): the API's service and its checks."""
        values = {"name": request.POST.get("name", ""),
                  "description": request.POST.get("description", "")}  # fmt: skip
        try:
            constellation = services.constellation_create(owner=request.user, **values)
        except HeimdallError as exc:
            field = exc.details.get("field", "body")
            return self._page(request, status=exc.status_code, errors={field: [exc.message]},
                              values=values)  # fmt: skip
        return redirect("dashboard:constellation-detail", constellation_id=constellation.pk)


def _share_user_id(username: str):
    """The share form names a user; the service takes their id."""
    username = (username or "").strip()
    if not username:
        raise ValidationFailed.for_field("user_id", "is required")
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ValidationFailed.for_field("user_id", f"unknown user '{username}'", username)
    return str(user.pk)


class ConstellationDetailView(ConsoleView):
    """GET the page; POST an `action`: add_member, remove_member, share, reshare, revoke.

    Each action asks access.constellation_for for the right it needs (change
    for members, share for shares), so a refused POST is refused by the same
    check as the API's, whatever the page showed.
    """

    read_permission = "constellations:read"
    write_permission = "constellations:read"  # the object permission decides
    nav = "constellations"

    ACTIONS = {
        "add_member": "change",
        "remove_member": "change",
        "share": "share",
        "reshare": "share",
        "revoke": "share",
        "localize": "view",  # read access, plus the role's constellations:write (as the API)
    }

    def _page(self, request, constellation, *, status=200, errors=None, values=None):
        user = request.user
        level = permission_level(user, constellation)
        may_share = _may(user, constellation.pk, "share")
        members = list(constellation_members(constellation=constellation))
        member_ids = {m.station_id for m in members}
        fixes = [localization_payload(fix) for fix in localization_list(user=user).filter(
            constellation=constellation)[:LOCALIZATIONS_SHOWN]]  # fmt: skip
        selected, posterior = _selected_fix(request, constellation)
        return self.render(
            request, "dashboard/constellation_detail.html", status=status,
            constellation=constellation, level=level,
            may_change=_may(user, constellation.pk, "change"), may_share=may_share,
            may_localize=has_permission(user, "constellations:write"),
            members=members,
            shares=list(constellation_shares(constellation=constellation)) if may_share else [],
            candidates=[s for s in station_list() if s.id not in member_ids],
            points=map_points([m.station for m in members]),
            share_permissions=ConstellationShare.Permission.values,
            localizations=fixes, selected=selected, posterior=posterior,
            strength_rows=[(m, (values or {}).get(f"strength_{m.station_id}", ""))
                           for m in members],
            methods=["auto", "model", "wls"],
            errors=errors or {}, values=values or {},
        )  # fmt: skip

    def get(self, request, constellation_id):
        return self._page(request, constellation_for(request.user, constellation_id, "view"))

    def post(self, request, constellation_id):
        action = request.POST.get("action", "")
        if action not in self.ACTIONS:
            raise ValidationFailed.for_field("action", f"must be one of {', '.join(self.ACTIONS)}")
        constellation = constellation_for(request.user, constellation_id, self.ACTIONS[action])
        post = request.POST
        if action == "localize":
            return self._localize(request, constellation)
        try:
            if action == "add_member":
                services.member_add(constellation=constellation,
                                    station_id=post.get("websdr_station_id", ""),
                                    added_by=request.user)  # fmt: skip
            elif action == "remove_member":
                services.member_remove(constellation=constellation,
                                       station_id=post.get("websdr_station_id", ""))  # fmt: skip
            elif action == "share":
                services.share_create(constellation=constellation,
                                      user_id=_share_user_id(post.get("username", "")),
                                      permission=post.get("permission", ""),
                                      shared_by=request.user)  # fmt: skip
            elif action == "reshare":
                services.share_update(constellation=constellation, user_id=post.get("user_id"),
                                      permission=post.get("permission", ""))  # fmt: skip
            else:
                services.share_revoke(constellation=constellation, user_id=post.get("user_id"))
        except HeimdallError as exc:
            if exc.status_code == 404 and action in ("remove_member", "reshare", "revoke"):
                field = "websdr_station_id" if action == "remove_member" else "user_id"
                errors = {f"{action}.{field}": [exc.message]}
            else:
                errors = {f"{action}.{exc.details.get('field', 'body')}": [exc.message]}
            status = 400 if exc.status_code == 404 else exc.status_code
            return self._page(request, constellation, status=status, errors=errors)
        return redirect("dashboard:constellation-detail", constellation_id=constellation.pk)

    def _localize(self, request, constellation):
        """As POST /api/v1/constellations/{id}/localize: the same role check and the same
        service (its request check names the field; nothing is stored on refusal)."""
        if not has_permission(request.user, "constellations:write"):
            raise PermissionDenied("Your role may read this constellation but not localize.")
        post = request.POST
        try:
            localization = services.localization_request(
                constellation=constellation, user=request.user, data=_localize_request(post)
            )
        except HeimdallError as exc:
            if exc.status_code in (401, 403, 404):
                raise
            errors = {f"localize.{exc.details.get('field', 'body')}": [exc.message]}
            return self._page(request, constellation, status=exc.status_code, errors=errors,
                              values=post.dict())  # fmt: skip
        url = reverse("dashboard:constellation-detail", args=[constellation.pk])
        return redirect(f"{url}?localization={localization.pk}")


def _number(text: str, kind: type):
    """A form's text as the JSON number the API takes; other text stays text, for the
    service to refuse by name."""
    try:
        return kind(text)
    except ValueError:
        return text


def _localize_request(post) -> dict:
    """The form (a strength per member station, blank: not heard) as the API's body."""
    data = {
        "frequency_hz": _number(post.get("frequency_hz", "").strip(), int),
        "method": post.get("method", "auto"),
        "measurements": [
            {"websdr_station_id": key.removeprefix("strength_"),
             "signal_strength_db": _number(value.strip(), float)}
            for key, value in post.items()
            if key.startswith("strength_") and value.strip()
        ],
    }  # fmt: skip
    if post.get("tx_power_dbm", "").strip():
        data["tx_power_dbm"] = _number(post["tx_power_dbm"].strip(), float)
    return data


def _selected_fix(request, constellation):
    """(the fix named by ?localization=, its posterior) when it is this constellation's."""
    chosen = request.GET.get("localization")
    if not chosen:
        return None, None
    try:
        fix = localization_get(user=request.user, localization_id=chosen)
    except HeimdallError:
        return None, None
    if fix.constellation_id != constellation.pk:
        return None, None
    return str(fix.pk), localization_posterior(localization=fix)


def _may(user, constellation_id, action: str) -> bool:
    try:
        constellation_for(user, constellation_id, action)
    except HeimdallError:
        return False
    return True
