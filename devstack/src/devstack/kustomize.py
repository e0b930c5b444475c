"""A small offline renderer for the subset of kustomize deploy/kubernetes uses.

`make test` must render the overlays on a fresh machine without network, and Debian ships
neither kustomize nor a current kubectl. Supported: `resources` (files and directories),
`namespace`, `images` (newName/newTag), `configMapGenerator`/`secretGenerator` (literals,
envs, files; behavior create/merge) with kustomize's name-suffix hash and the rewriting of
references to generated names, and `patches` by path (strategic merge for the built-in kinds
we use: lists of containers, env, volumes, ports ... merged by their key, `null` deletes).
Anything else in a kustomization is refused, so the renderer cannot silently disagree with
kustomize (the test also compares it with `kubectl kustomize` where kubectl exists)."""

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

# PyYAML comes with the dev dependency group (the tests' manifests), not with devstack's own
# dependencies: nothing the launcher or the images run imports this module. No stubs locked.
import yaml  # type: ignore[import-untyped]

__all__ = ["KustomizeError", "render"]

Obj = dict[str, Any]

_SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "images",
                     "configMapGenerator", "secretGenerator", "patches"}
# Strategic-merge keys of the lists our manifests patch (k8s.io/api patchMergeKey).
_MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name",
               "volumes": "name", "volumeMounts": "mountPath", "ports": "containerPort",
               "envFrom": None, "imagePullSecrets": "name"}
# kustomize's (kubectl's) Encode: no digit or letter that could make a word.
_HASH_LETTERS = str.maketrans("013ae", "ghkmt")
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                   "PersistentVolume", "CustomResourceDefinition", "PriorityClass"}


class KustomizeError(ValueError):
    """A kustomization this renderer does not support, or that is inconsistent."""


def render(directory: Path) -> list[Obj]:
    """Every object `kubectl kustomize directory` would print (order not kept)."""
    build = _build(directory.resolve())
    # Once, at the top: a generator an overlay merges into renames the base's object again.
    _rewrite_references(build)
    return build.objects


class _Build:
    def __init__(self) -> None:
        self.objects: list[Obj] = []
        # Generated ConfigMap/Secret: (kind, name) -> hashed name.
        self.renamed: dict[tuple[str, str], str] = {}


def _load_yaml(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _build(directory: Path) -> _Build:
    kustomization = directory / "kustomization.yaml"
    if not kustomization.is_file():
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    spec: Obj = _load_yaml(kustomization)[0]
    unknown = set(spec) - _SUPPORTED_FIELDS
    if unknown:
        raise KustomizeError(f"{kustomization}: unsupported fields {sorted(unknown)}")
    build = _Build()
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            child = _build(path)
            build.objects.extend(child.objects)
            build.renamed.update(child.renamed)
        else:
            build.objects.extend(_load_yaml(path))
    for kind, field in (("ConfigMap", "configMapGenerator"), ("Secret", "secretGenerator")):
        for generator in spec.get(field, []):
            _generate(build, directory, kind, generator)
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise KustomizeError(f"{kustomization}: only `patches: - path:` is supported")
        for doc in _load_yaml(directory / patch["path"]):
            target = _find(build, doc["kind"], doc["metadata"]["name"])
            merged = _merge(target, doc)
            target.clear()
            target.update(merged)
    if "namespace" in spec:
        for obj in build.objects:
            if obj["kind"] not in _CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        _set_image(build.objects, image)
    return build


def _find(build: _Build, kind: str, name: str) -> Obj:
    for obj in build.objects:
        if obj["kind"] == kind and obj["metadata"]["name"] in (
                name, build.renamed.get((kind, name))):
            return obj
    raise KustomizeError(f"patch target {kind}/{name} not found")


# --- generators -------------------------------------------------------------------------------

def _generate(build: _Build, directory: Path, kind: str, generator: Obj) -> None:
    unknown = set(generator) - {"name", "literals", "envs", "files", "behavior", "type"}
    if unknown:
        raise KustomizeError(f"{kind} generator {generator.get('name')}: {sorted(unknown)}")
    name = generator["name"]
    data: dict[str, str] = {}
    for literal in generator.get("literals", []):
        key, _, value = literal.partition("=")
        data[key] = value
    for env_file in generator.get("envs", []):
        for line in (directory / env_file).read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                data[key] = value
    for file in generator.get("files", []):
        key, sep, source = file.partition("=")
        path = directory / (source if sep else file)
        data[key if sep else path.name] = path.read_text()
    behavior = generator.get("behavior", "create")
    if behavior == "merge":
        hashed = build.renamed.pop((kind, name))
        existing = _find_by_name(build, kind, hashed)
        build.objects.remove(existing)
        old = existing.get("data", {})
        if kind == "Secret":
            old = {k: base64.b64decode(v).decode() for k, v in old.items()}
        data = {**old, **data}
    elif behavior != "create":
        raise KustomizeError(f"generator behavior {behavior!r} not supported")
    obj: Obj = {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}
    if kind == "Secret":
        obj["type"] = generator.get("type", "Opaque")
        obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        obj["data"] = data
    hashed_name = f"{name}-{_name_hash(obj)}"
    obj["metadata"]["name"] = hashed_name
    build.renamed[(kind, name)] = hashed_name
    build.objects.append(obj)


def _find_by_name(build: _Build, kind: str, name: str) -> Obj:
    for obj in build.objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    raise KustomizeError(f"{kind}/{name} to merge into not found")


def _name_hash(obj: Obj) -> str:
    """kustomize's suffix (api/hasher): sha256 of a JSON encoding, 10 hex digits with the
    letters that could spell words replaced. Its "name" is always empty: kustomize looks
    the name up as one field called "metadata/name", which no object has."""
    encoded: Obj = {"kind": obj["kind"], "name": "", "data": obj["data"]}
    if obj["kind"] == "Secret":
        encoded["type"] = obj["type"]
    # Go's json.Marshal: sorted keys, no spaces, <>& escaped.
    text = json.dumps(encoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return digest.translate(_HASH_LETTERS)


def _rewrite_references(build: _Build) -> None:
    """Point every reference to a generated ConfigMap/Secret at its hashed name."""
    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for field, kind, key in (("configMapKeyRef", "ConfigMap", "name"),
                                     ("configMapRef", "ConfigMap", "name"),
                                     ("configMap", "ConfigMap", "name"),
                                     ("secretKeyRef", "Secret", "name"),
                                     ("secretRef", "Secret", "name"),
                                     ("secret", "Secret", "secretName")):
                ref = node.get(field)
                if isinstance(ref, dict) and (kind, ref.get(key)) in build.renamed:
                    ref[key] = build.renamed[(kind, ref[key])]
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for obj in build.objects:
        if obj["kind"] not in ("ConfigMap", "Secret"):
            visit(obj)


# --- images -----------------------------------------------------------------------------------

def _set_image(objects: list[Obj], image: Obj) -> None:
    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for field in ("containers", "initContainers"):
                for container in node.get(field) or []:
                    name, _, _tag = container["image"].partition(":")
                    if name == image["name"]:
                        new_name = image.get("newName", name)
                        container["image"] = f"{new_name}:{image['newTag']}" \
                            if "newTag" in image else new_name
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for obj in objects:
        visit(obj)


# --- strategic merge --------------------------------------------------------------------------

def _merge(base: Any, patch: Any, field: str = "") -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value, key)
            else:
                merged[key] = copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and _MERGE_KEYS.get(field):
        # As kustomize orders them: the patch's items (merged into their base item) first,
        # then the base's other items.
        key = _MERGE_KEYS[field]
        by_key = {item.get(key): item for item in base}
        patched = [_merge(by_key[item.get(key)], item) if item.get(key) in by_key
                   else copy.deepcopy(item) for item in patch]
        patched_keys = {item.get(key) for item in patch}
        return patched + [copy.deepcopy(item) for item in base
                          if item.get(key) not in patched_keys]
    return copy.deepcopy(patch)
