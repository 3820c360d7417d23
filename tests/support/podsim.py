"""KubeSpawner with the local Docker Engine as its kubelet: the closest thing to a cluster that runs here.

The hub runs KubeSpawner's own code for everything a hub does with it (the profile list, the options
form, load_user_options, get_pod_manifest) with Zero-to-JupyterHub's chart defaults. Only the last step
differs: instead of sending the pod to a Kubernetes API, start() boots the pod's container with the
engine, as a kubelet would, honouring what the manifest says:
- command and args (Kubernetes: `command` replaces the image's ENTRYPOINT, `args` its CMD);
- env and workingDir;
- runAsUser / runAsGroup, fsGroup as a supplementary group, allowPrivilegeEscalation: false as
  no-new-privileges, runAsNonRoot (refused where the container would run as root), capabilities
  dropped and added, readOnlyRootFilesystem, and seccompProfile RuntimeDefault (the engine's default
  profile; any other profile is refused);
- each emptyDir as a tmpfs;
- each persistentVolumeClaim as an empty volume made group-owned by fsGroup and setgid, as a volume
  mounted with fsGroup is (Z2JH's home PVC on /home/jovyan);
- the container's port, published on 127.0.0.1, where the hub connects;
- the chart's singleuser NetworkPolicy, from the values (`network_policy`, the hub's config): enabled
  with no extra ingress rule and no extra port, it admits the hub and the proxy only, so the pods share
  a bridge with inter-container traffic off: the hub (on this machine, through the published port)
  still reaches each pod and no pod reaches another (one bridge for all: a bridge made per pod changed
  the host's network under the lane beside, whose chromium then aborted its loads); anything else
  (off, or more let in) puts the pod on the default bridge, where every pod reaches every port;
- memory and CPU limits.
Anything a pod needs a cluster for (init containers, sidecars, other volume kinds, env from secrets)
is refused with an error, so a profile that needs one cannot pass here by accident.
"""
from __future__ import annotations

import asyncio
import os
import re

import docker
import kubespawner.spawner as kubespawner_module
from traitlets import Dict
from kubespawner import KubeSpawner
from kubernetes_asyncio.client import ApiClient

# No cluster: KubeSpawner's client set-up is replaced before any spawner exists.
kubespawner_module.load_config = lambda **kwargs: None
kubespawner_module.shared_client = lambda *args, **kwargs: None

# labstack.containers.session_label(), written out: this module runs inside the hub, where labstack is not importable
LABELS = {"io.labstack.smoke": os.environ.get("LABSTACK_SMOKE_SESSION", "1")}
# Pods and claims of runs sharing an engine (pytest-xdist workers) must not meet: names carry the run.
SESSION_SUFFIX = f"-{os.environ['LABSTACK_SMOKE_SESSION']}" if os.environ.get("LABSTACK_SMOKE_SESSION") else ""

# Zero-to-JupyterHub's chart defaults (values.yaml) for what a profile does not set, as KubeSpawner
# traits: the hub's config applies them to every pod.
Z2JH_DEFAULTS = {
    "cmd": ["jupyterhub-singleuser"], "uid": 1000, "fs_gid": 100, "start_timeout": 300,
    "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "claim-{username}{servername}"}}],
    "volume_mounts": [{"name": "home", "mountPath": "/home/jovyan"}],
}


def volume_name(claim: str) -> str:
    return f"labstack-pvc-{claim}{SESSION_SUFFIX}"


POD_PREFIX = "labstack-pod"  # every simulated pod's container is named POD_PREFIX-...


def pod_container_name(pod_name: str) -> str:
    return f"{POD_PREFIX}-{pod_name}{SESSION_SUFFIX}"


class DockerPodSpawner(KubeSpawner):
    """KubeSpawner whose pods are containers on the local engine (see the module's docstring)."""

    network_policy = Dict(config=True, help="the chart's singleuser.networkPolicy values")

    @property
    def container_name(self) -> str:
        return pod_container_name(self.pod_name)

    async def start(self):
        await self.load_user_options()
        pod = await self.get_pod_manifest()
        # The manifest as the Kubernetes API would receive it (camelCase JSON): KubeSpawner's objects
        # mix models and plain dicts (volumes, security contexts); the serialized form has one shape.
        async with ApiClient() as client:
            spec = client.sanitize_for_serialization(pod)["spec"]
        self.log.info("labstack pod simulation: booting %s as pod %s", spec["containers"][0]["image"], self.pod_name)
        return await asyncio.to_thread(run_pod, spec, self.container_name, hub_and_proxy_only(self.network_policy))

    async def poll(self):
        try:
            container = docker.from_env().containers.get(self.container_name)
        except docker.errors.NotFound:
            return 0
        return None if container.status in ("created", "running") else container.attrs["State"]["ExitCode"]

    async def stop(self, now=False):
        await asyncio.to_thread(remove_pod, self.container_name)

    def get_state(self):
        return {**super().get_state(), "labstack_container": self.container_name}


def hub_and_proxy_only(policy: dict) -> bool:
    """Whether the chart's singleuser NetworkPolicy, rendered from these values, admits the hub and
    the proxy only (the chart's default ingress rule, for pods labelled network-access-singleuser)."""
    return bool(policy.get("enabled", True)) and not policy.get("ingress") and not policy.get("allowedIngressPorts") \
        and policy.get("interNamespaceAccessLabels", "ignore") == "ignore"


PODS_NETWORK = f"{POD_PREFIX}-network{SESSION_SUFFIX}"


def pods_network(engine) -> str:
    """The bridge the pods share where the policy admits the hub and proxy only: no pod reaches another."""
    if not engine.networks.list(names=[PODS_NETWORK]):
        try:
            engine.networks.create(PODS_NETWORK, driver="bridge", labels=LABELS, check_duplicate=True,
                                   options={"com.docker.network.bridge.enable_icc": "false"})
        except docker.errors.APIError as error:  # made meanwhile by a pod starting beside
            if "already exists" not in str(error):
                raise
    return PODS_NETWORK


def run_pod(spec: dict, name: str, own_network: bool = False) -> tuple[str, int]:
    if spec.get("initContainers") or len(spec["containers"]) != 1:
        raise RuntimeError("labstack pod simulation: init containers and sidecars need a cluster")
    container = spec["containers"][0]
    pod_context, context = spec.get("securityContext", {}), container.get("securityContext", {})
    fs_group = pod_context.get("fsGroup")
    engine = docker.from_env()
    remove_pod(name)
    kwargs = {
        "name": name, "detach": True, "labels": LABELS,
        "environment": environment(container.get("env", [])),
        "working_dir": container.get("workingDir"),
        "ports": {f"{port['containerPort']}/tcp": ("127.0.0.1", None) for port in container.get("ports", [])},
        # no_copy: a PVC starts empty; Docker would otherwise fill a new volume from the image's folder
        "mounts": [docker.types.Mount(mount["mountPath"], claim_volume(engine, spec, mount["name"], fs_group, container["image"]),
                                      type="volume", read_only=bool(mount.get("readOnly")), no_copy=True)
                   for mount in container.get("volumeMounts", []) if not empty_dir(spec, mount["name"])],
        "tmpfs": {mount["mountPath"]: "mode=1777" for mount in container.get("volumeMounts", [])
                  if empty_dir(spec, mount["name"])},
    }
    if container.get("command"):
        kwargs["entrypoint"] = container["command"]
    kwargs["command"] = container.get("args") or None
    uid = context.get("runAsUser", pod_context.get("runAsUser"))
    gid = context.get("runAsGroup", pod_context.get("runAsGroup"))
    if uid is not None:
        kwargs["user"] = f"{uid}:{gid}" if gid is not None else str(uid)
    if fs_group is not None:
        kwargs["group_add"] = [str(fs_group)]
    if context.get("allowPrivilegeEscalation") is False:
        kwargs["security_opt"] = ["no-new-privileges"]
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")):
        user = str(uid) if uid is not None else engine.images.get(container["image"]).attrs["Config"].get("User") or "0"
        if user.split(":")[0] in ("0", "root"):
            raise RuntimeError("labstack pod simulation: runAsNonRoot, and the container would run as root")
    capabilities = context.get("capabilities") or {}
    kwargs["cap_drop"], kwargs["cap_add"] = capabilities.get("drop"), capabilities.get("add")
    kwargs["read_only"] = bool(context.get("readOnlyRootFilesystem"))
    seccomp = (context.get("seccompProfile") or pod_context.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if seccomp != "RuntimeDefault":
        raise RuntimeError(f"labstack pod simulation: seccomp profile {seccomp} is not the engine's default")
    limits = container.get("resources", {}).get("limits", {})
    if "memory" in limits:
        kwargs["mem_limit"] = quantity(limits["memory"])
    if "cpu" in limits:
        cpu = str(limits["cpu"])
        kwargs["nano_cpus"] = int(float(cpu[:-1]) * 1e6) if cpu.endswith("m") else int(float(cpu) * 1e9)
    if own_network:
        kwargs["network"] = pods_network(engine)
    started = engine.containers.run(container["image"], **kwargs)
    started.reload()
    port = container["ports"][0]["containerPort"]
    binding = started.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]
    return "127.0.0.1", int(binding["HostPort"])


def environment(env: list) -> dict[str, str]:
    values = {}
    for variable in env:
        if "valueFrom" in variable:
            raise RuntimeError(f"labstack pod simulation: {variable['name']} comes from the cluster (valueFrom)")
        values[variable["name"]] = variable.get("value", "")
    return values


def empty_dir(spec, volume: str) -> bool:
    return "emptyDir" in next(v for v in spec.get("volumes", []) if v["name"] == volume)


def claim_volume(engine, spec, volume: str, fs_group, image: str) -> str:
    """The empty volume standing in for a PVC: created once (a claim outlives its pods), and made
    group-owned by fsGroup and setgid, as Kubernetes does to a volume mounted with fsGroup."""
    source = next(v for v in spec.get("volumes", []) if v["name"] == volume)
    if "persistentVolumeClaim" not in source:
        raise RuntimeError(f"labstack pod simulation: volume {volume} is not a persistentVolumeClaim")
    name = volume_name(source["persistentVolumeClaim"]["claimName"])
    try:
        engine.volumes.get(name)
        return name
    except docker.errors.NotFound:
        engine.volumes.create(name, labels=LABELS)
    if fs_group is not None:
        engine.containers.run(image, [f"chgrp {int(fs_group)} /claim && chmod 2775 /claim"], user="0",
                              entrypoint=["sh", "-c"], remove=True, labels=LABELS,
                              mounts=[docker.types.Mount("/claim", name, type="volume", no_copy=True)])
    return name


def quantity(value: str) -> int:
    """A Kubernetes memory quantity in bytes (what KubeSpawner writes: 1G, 512M, 2Gi, plain bytes)."""
    number, unit = re.fullmatch(r"([0-9.]+)([KMGT]i?)?", str(value)).groups()
    powers = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return int(float(number) * powers.get(unit or "", 1))


def remove_pod(name: str) -> None:
    engine = docker.from_env()
    try:
        engine.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass



def remove_claims() -> None:
    """The volumes standing in for PVCs (a claim outlives its pods; the test removes them at its end)."""
    for volume in docker.from_env().volumes.list(filters={"label": "io.labstack.smoke=" + LABELS["io.labstack.smoke"]}):
        if volume.name.startswith("labstack-pvc-"):
            volume.remove(force=True)
