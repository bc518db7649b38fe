"""A draft-07 validator for the subset of JSON Schema that VK's official schema uses (type, properties, required,
items, $ref across files, enum, anyOf/oneOf/allOf, minimum), plus VK's own `"required": true` inside a property.

Python's jsonschema is used as well when it is importable (Debian: python3-jsonschema), on a copy of the schema
whose property-level `required: true` is rewritten into draft-07 `required` arrays.
"""
import copy
import json
import os

try:
    import jsonschema  # noqa: F401
except ImportError:  # the small validator below is enough on its own
    jsonschema = None


class Schemas:
    def __init__(self, root):
        self.root = os.path.realpath(root)
        self.cache = {}

    def load(self, rel):
        path = os.path.normpath(os.path.join(self.root, rel))
        if path not in self.cache:
            with open(path) as fh:
                self.cache[path] = json.load(fh)
        return self.cache[path], path

    def resolve(self, ref, base):
        """A $ref like '../users/objects.json#/definitions/x' relative to the file `base` (a path in root)."""
        file_part, _, pointer = ref.partition("#")
        if file_part:
            target = os.path.normpath(os.path.join(os.path.dirname(base), file_part))
            doc, path = self.load(os.path.relpath(target, self.root))
        else:
            doc, path = self.load(os.path.relpath(base, self.root))
        node = doc
        for part in [p for p in pointer.split("/") if p]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node, path

    def validate(self, instance, schema, base, where="$"):
        """A list of error strings (empty when valid)."""
        errs = []
        if "$ref" in schema:
            target, tbase = self.resolve(schema["$ref"], base)
            errs += self.validate(instance, target, tbase, where)
        t = schema.get("type")
        if t is not None:
            types = t if isinstance(t, list) else [t]
            if not any(_is_type(instance, x) for x in types):
                return errs + [f"{where}: {json.dumps(instance)[:80]} is not of type {t}"]
        if "enum" in schema and instance not in schema["enum"]:
            errs.append(f"{where}: {instance!r} not in enum {schema['enum'][:8]}")
        if "minimum" in schema and isinstance(instance, (int, float)) and not isinstance(instance, bool):
            if instance < schema["minimum"]:
                errs.append(f"{where}: {instance} < minimum {schema['minimum']}")
        if isinstance(instance, dict):
            props = schema.get("properties", {})
            req = schema.get("required")
            required = list(req) if isinstance(req, list) else []
            required += [k for k, v in props.items() if isinstance(v, dict) and v.get("required") is True]
            for k in required:
                if k not in instance:
                    errs.append(f"{where}: required property '{k}' is missing")
            for k, sub in props.items():
                if k in instance:
                    errs += self.validate(instance[k], sub, base, f"{where}.{k}")
            ap = schema.get("additionalProperties")
            if ap is False:
                for k in instance:
                    if k not in props:
                        errs.append(f"{where}: unexpected property '{k}'")
        if isinstance(instance, list) and isinstance(schema.get("items"), dict):
            for i, x in enumerate(instance):
                errs += self.validate(x, schema["items"], base, f"{where}[{i}]")
        for sub in schema.get("allOf", []):
            errs += self.validate(instance, sub, base, where)
        if "anyOf" in schema:
            if all(self.validate(instance, s, base, where) for s in schema["anyOf"]):
                errs.append(f"{where}: matches none of anyOf")
        if "oneOf" in schema:
            n = sum(1 for s in schema["oneOf"] if not self.validate(instance, s, base, where))
            if n != 1:
                errs.append(f"{where}: matches {n} of oneOf (want exactly 1)")
        return errs

    def definition(self, rel, name):
        doc, path = self.load(rel)
        return doc["definitions"][name], path

    def check(self, instance, rel, name):
        schema, path = self.definition(rel, name)
        errs = self.validate(instance, schema, path)
        if jsonschema is not None and not errs:
            errs += self._jsonschema_check(instance, rel, name)
        return errs

    # ---- cross-check with python3-jsonschema -----------------------------------------------------------------
    def _jsonschema_check(self, instance, rel, name):
        store = {}
        for dirpath, _, files in os.walk(self.root):
            for f in files:
                if f.endswith(".json"):
                    p = os.path.join(dirpath, f)
                    with open(p) as fh:
                        doc = _draft07(json.load(fh))
                    doc.pop("$schema", None)
                    store["file://" + p] = doc
        doc, path = self.load(rel)
        schema = {"$ref": "file://" + path + "#/definitions/" + name}
        resolver = jsonschema.RefResolver(base_uri="file://" + path, referrer=store["file://" + path], store=store)
        v = jsonschema.Draft7Validator(schema, resolver=resolver)
        return [f"jsonschema: {e.message[:200]}" for e in v.iter_errors(instance)]


def _draft07(node):
    """VK's `"required": true` on a property, moved into the parent's draft-07 `required` list."""
    node = copy.deepcopy(node)

    def walk(n):
        if isinstance(n, dict):
            props = n.get("properties")
            if isinstance(props, dict):
                req = [k for k, v in props.items() if isinstance(v, dict) and v.get("required") is True]
                for v in props.values():
                    if isinstance(v, dict) and isinstance(v.get("required"), bool):
                        del v["required"]
                if req:
                    n["required"] = sorted(set((n.get("required") if isinstance(n.get("required"), list) else []) + req))
            if isinstance(n.get("required"), bool):
                del n["required"]
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)
    walk(node)
    return node


def _is_type(x, t):
    if t == "object":
        return isinstance(x, dict)
    if t == "array":
        return isinstance(x, list)
    if t == "string":
        return isinstance(x, str)
    if t == "integer":
        return isinstance(x, int) and not isinstance(x, bool)
    if t == "number":
        return isinstance(x, (int, float)) and not isinstance(x, bool)
    if t == "boolean":
        return isinstance(x, bool)
    if t == "null":
        return x is None
    return True
