"""Zero-to-JupyterHub values for built images: the profileList a hub admin would write by hand.

- One profile per image, with the image and where it lands. No `cmd`: the chart's default
  (`jupyterhub-singleuser`) runs in our images as well as their own CMD does.
- One "app chooser" profile: the user picks JupyterLab, VS Code, RStudio or Shiny in the spawn form
  (KubeSpawner's profile_options), each choice setting the image that has the app and default_url.
  An app that can run alone (image.toml `standalone`) is one more choice: its command as the pod's
  cmd, behind the hub's authentication, with no notebook server.
- Migrated images hold one person's work: `owner_only` writes a hub.extraConfig snippet whose
  profile_list callable offers such an image to its owner only.
- The chart's network policy for user pods, kept on with ingress from the hub and proxy only
  (`singleuser.networkPolicy`): what a user starts on every address stays theirs.
- Both come with `labstack-person-activity` (hub.extraConfig): the hub's idle culler then counts what
  the servers report (a person, by each app's rule: labstack_proxy/activity.py), not
  configurable-http-proxy's count of every byte through it, heartbeats included.

Only the two forms Zero-to-JupyterHub's image pre-puller reads carry images:
`kubespawner_override.image` and `profile_options.*.choices.*.kubespawner_override.image`.
"""
from __future__ import annotations

import shlex

from .graph import Graph
from .tags import Naming

CHOOSER_SLUG = "apps"


def apps_of(graph: Graph, spec: str) -> list:
    return [app for step in graph.plan(spec) for app in step.layer.apps]


def profile_list(graph: Graph, specs: list[str], naming: Naming) -> dict:
    profiles = []
    choices: dict[str, dict] = {}
    for number, spec in enumerate(specs):
        image = naming.tags(graph.plan(spec)[-1].image)[0]
        apps = apps_of(graph, spec)
        # what users see in the spawn form: the apps each layer declares in its image.toml
        described = [f"{app.title} at {app.default_url}" for app in apps] or [graph.layer(spec.split('+')[-1]).description]
        profile = {
            "display_name": " + ".join(spec.split("+")),
            "slug": graph.plan(spec)[-1].image,
            "description": "; ".join(dict.fromkeys(described)),
            "kubespawner_override": {"image": image, "default_url": (apps[-1].default_url if apps else "/lab")},
        }
        if number == 0:
            profile["default"] = True
        profiles.append(profile)
        for app in apps:  # each app from the first image (in the order given) that has it
            choices.setdefault(app.name, {
                "display_name": app.title + (" (where the image has it)" if app.unless else ""),
                "kubespawner_override": {"image": image, "default_url": app.default_url},
            })
            if app.standalone:
                choices.setdefault(f"{app.name}-alone", {
                    "display_name": f"{app.title} alone (no notebook server)",
                    "kubespawner_override": {"image": image, "cmd": shlex.split(app.standalone), "default_url": "/"},
                })
    if len(choices) > 1:
        first = next(iter(choices))
        choices[first]["default"] = True
        profiles.append({
            "display_name": "Choose an app",
            "slug": CHOOSER_SLUG,
            "description": "Start in " + ", ".join(choice["display_name"] for choice in choices.values()),
            "profile_options": {"app": {"display_name": "App", "choices": choices}},
        })
    return {"hub": {"extraConfig": {"labstack-person-activity": PERSON_ACTIVITY, "labstack-cull-notice": CULL_NOTICE}},
            "singleuser": {"networkPolicy": SINGLEUSER_NETWORK_POLICY, "profileList": profiles}}


# What a user starts may listen on every address (Streamlit, `bokeh serve`, `python3 -m http.server`):
# the chart's own policy for user pods admits the hub and the proxy only. It is on by default; these
# values say so, so that a values file built on them can't lose it by accident. No extra ports are
# opened and no other namespace's pods are let in (docs/security.md).
SINGLEUSER_NETWORK_POLICY = {"enabled": True, "ingress": [], "allowedIngressPorts": [],
                             "interNamespaceAccessLabels": "ignore"}


PERSON_ACTIVITY = '''\
# labstack: a server's activity is what the server reports (what a person did, by each app's rule),
# not configurable-http-proxy's: it counts every byte it carries, websocket heartbeats included, so
# that a tab left open kept its server from ever being culled.
from jupyterhub.proxy import ConfigurableHTTPProxy as _LabstackCHP


class LabstackPersonActivityProxy(_LabstackCHP):
    async def get_all_routes(self):
        routes = await super().get_all_routes()
        for route in routes.values():
            route["data"].pop("last_activity", None)
        return routes


c.JupyterHub.proxy_class = LabstackPersonActivityProxy
'''

# A person whose server the idle culler stopped is told so on their next visit: opening JupyterLab, VS
# Code or any app of the stopped server lands on the hub's "Server not running" page, which then says
# when it was stopped and since when nobody had used it. A stop asked by a service (jupyterhub-idle-
# culler is one; a person or an admin is not) is noted, in the hub's memory: a hub restarted since
# says nothing more than upstream's page. Written for JupyterHub 5.5 and 6.1 (their default template
# is extended as "templates/not_running.html", its `message` block).
CULL_NOTICE = '''\
# labstack: a server the idle culler stopped says so, on the hub's "Server not running" page.
import os as _labstack_os
import tempfile as _labstack_tempfile
import time as _labstack_time

from jupyterhub.apihandlers.users import UserServerAPIHandler as _LabstackServerAPI

_labstack_culled = {}  # (user, server name) -> (stopped, last activity), UTC strings
_labstack_upstream_delete = _LabstackServerAPI.delete


async def _labstack_delete_noting_culls(self, user_name, server_name=""):
    user = self.find_user(user_name)
    spawner = user.spawners.get(server_name) if user is not None else None
    last = getattr(getattr(spawner, "orm_spawner", None), "last_activity", None)
    by_a_service = getattr(self.current_user, "kind", "user") == "service"
    result = await _labstack_upstream_delete(self, user_name, server_name)
    if by_a_service:
        _labstack_culled[(user_name, server_name)] = (
            _labstack_time.strftime("%Y-%m-%d %H:%M UTC", _labstack_time.gmtime()),
            last.strftime("%Y-%m-%d %H:%M UTC") if last is not None else None)
    else:  # its person (or an admin) stopped it: nothing to tell
        _labstack_culled.pop((user_name, server_name), None)
    return result


_LabstackServerAPI.delete = _labstack_delete_noting_culls


def _labstack_culled_note(user):
    return lambda server_name="": _labstack_culled.get((user.name, server_name)) if user is not None else None


_labstack_templates = _labstack_tempfile.mkdtemp(prefix="labstack-hub-templates-")
with open(_labstack_os.path.join(_labstack_templates, "not_running.html"), "w") as _labstack_file:
    _labstack_file.write(\'\'\'{% extends "templates/not_running.html" %}
{% block message %}
{% set culled = labstack_culled(server_name) %}
{% if culled and not failed %}
<p id="labstack-culled">Your server {{ server_name }} was stopped at {{ culled[0] }} because nobody had
used it{% if culled[1] %} since {{ culled[1] }}{% endif %}: the hub stops servers left idle.
Would you like to start it again?</p>
{% else %}{{ super() }}{% endif %}
{% endblock message %}
\'\'\')
c.JupyterHub.template_paths.insert(0, _labstack_templates)
c.JupyterHub.template_vars.update({"labstack_culled": _labstack_culled_note})
'''


OWNER_ONLY = '''\
# labstack: {image} holds one person's work: offered to {user} only, after the shared profiles.
_labstack_owner_profiles = {{{user!r}: [{profile!r}]}}
_labstack_shared_profiles = c.KubeSpawner.profile_list if isinstance(c.KubeSpawner.profile_list, list) else []


def _labstack_profile_list(spawner):
    return list(_labstack_shared_profiles) + _labstack_owner_profiles.get(spawner.user.name, [])


c.KubeSpawner.profile_list = _labstack_profile_list
'''


def owner_only(user: str, image: str, default_url: str = "/vscode/", display_name: str = "",
               override: dict | None = None) -> dict:
    """hub.extraConfig values: a profile_list callable that adds the image's profile for its owner.
    The work is in the image's home, so no home volume: one on top would hide it."""
    profile = {"display_name": display_name or f"{user}'s VS Code (migrated)", "slug": "migrated",
               "kubespawner_override": {"image": image, **(override or {}), "default_url": default_url,
                                        "volumes": [], "volume_mounts": []}}
    return {"hub": {"extraConfig": {"labstack-person-activity": PERSON_ACTIVITY, "labstack-cull-notice": CULL_NOTICE,
                                    "labstack-owner-only": OWNER_ONLY.format(user=user, image=image, profile=profile)}}}


# Kubernetes' Restricted Pod Security for the user's container (`build.py profiles --restricted`):
# non-root, no privilege escalation, every capability dropped, the runtime's default seccomp profile, and
# a read-only root filesystem. What labstack's images write outside the home goes to /tmp, an emptyDir.
RESTRICTED_CONTAINER = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_TMP = {"name": "labstack-tmp", "emptyDir": {}}


def restricted(values: dict) -> dict:
    """values with the Restricted settings added: the container's securityContext (hub.config, which
    the chart hands to KubeSpawner as it is) and /tmp as an emptyDir (singleuser.storage's extras,
    which the chart adds beside the home volume)."""
    hub = values.setdefault("hub", {})
    hub.setdefault("config", {}).setdefault("KubeSpawner", {})["container_security_context"] = RESTRICTED_CONTAINER
    storage = values.setdefault("singleuser", {}).setdefault("storage", {})
    storage["extraVolumes"] = [RESTRICTED_TMP]
    storage["extraVolumeMounts"] = [{"name": RESTRICTED_TMP["name"], "mountPath": "/tmp"}]
    return values


def to_yaml(values: dict) -> str:
    """Helm values as YAML, code snippets (extraConfig) as readable literal blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value):
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(values, Dumper=Dumper, sort_keys=False)
