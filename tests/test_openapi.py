#!/usr/bin/env python3
"""test_openapi: docs/openapi.yaml is a valid OpenAPI 3.0 document, and a
real `kestrel serve` answers as it says.

The document is parsed with PyYAML and walked: every operation, response,
parameter and schema may hold only the keywords OpenAPI 3.0 defines (a plain
scalar cut by an unquoted comma in a flow mapping shows up as a stray key),
and every $ref resolves. Then live answers of each GET route, a created
study, an error, and every example spec (against `Spec`) are checked against
their schemas by a small validator of the schema subset the document uses;
objects are closed (a field the server sends that the document lacks fails),
so the reference stays complete.
"""
import http.client
import json
import os
import re
import sys
import tempfile
import shutil
import socket
import sqlite3
import unittest

try:
    import yaml
except ImportError:         # ./bootstrap installs python3-yaml
    print("SKIP: no python3-yaml")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_api import Server, fn_spec  # noqa: E402

TOP = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(__file__), "..")
DOC_PATH = os.path.join(TOP, "docs", "openapi.yaml")

SCHEMA_KEYS = {"type", "format", "description", "required", "properties", "additionalProperties",
               "items", "enum", "nullable", "default", "minimum", "maximum", "minLength",
               "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "pattern",
               "allOf", "oneOf", "anyOf", "$ref", "example"}
OPERATION_KEYS = {"summary", "description", "parameters", "requestBody", "responses", "security",
                  "operationId", "tags"}
PATH_KEYS = {"parameters", "get", "post", "put", "delete", "patch", "summary", "description"}
RESPONSE_KEYS = {"description", "content", "headers", "$ref"}
PARAMETER_KEYS = {"name", "in", "description", "required", "schema", "$ref"}


class StrictLoader(yaml.SafeLoader):
    """Refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for k, _ in node.value:
            key = self.construct_object(k, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % key,
                                                        k.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_doc():
    with open(DOC_PATH) as f:
        return yaml.load(f, Loader=StrictLoader)


class Doc:
    def __init__(self, doc):
        self.doc = doc

    def resolve(self, ref):
        assert ref.startswith("#/"), ref
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            node = self.resolve(node["$ref"])
        return node

    def check_schema(self, s, where, errors):
        if not isinstance(s, dict):
            errors.append("%s: a schema must be a mapping, not %r" % (where, s))
            return
        for k in s:
            if k not in SCHEMA_KEYS:
                errors.append("%s: unknown schema keyword %r" % (where, k))
        if "$ref" in s:
            try:
                self.resolve(s["$ref"])
            except (KeyError, AssertionError):
                errors.append("%s: unresolved $ref %s" % (where, s["$ref"]))
        for k, sub in (s.get("properties") or {}).items():
            self.check_schema(sub, where + ".properties." + k, errors)
        for k in ("items", "additionalProperties"):
            if isinstance(s.get(k), dict):
                self.check_schema(s[k], where + "." + k, errors)
        for k in ("allOf", "oneOf", "anyOf"):
            for i, sub in enumerate(s.get(k) or []):
                self.check_schema(sub, "%s.%s[%d]" % (where, k, i), errors)

    def structure_errors(self):
        errors = []
        d = self.doc
        if not str(d.get("openapi", "")).startswith("3.0"):
            errors.append("openapi: expected 3.0.x")
        for p, item in d["paths"].items():
            for k, op in item.items():
                if k not in PATH_KEYS:
                    errors.append("paths.%s: unknown key %r" % (p, k))
                if k == "parameters":
                    continue
                for ok in op:
                    if ok not in OPERATION_KEYS:
                        errors.append("paths.%s.%s: unknown key %r" % (p, k, ok))
                for code, r in op["responses"].items():
                    for rk in r:
                        if rk not in RESPONSE_KEYS:
                            errors.append("paths.%s.%s.%s: unknown key %r" % (p, k, code, rk))
                    for mt, media in (r.get("content") or {}).items():
                        self.check_schema(media.get("schema"), "paths.%s.%s.%s.%s" % (p, k, code, mt),
                                          errors)
            for k in ("get", "post", "delete"):
                params = list(item.get("parameters") or []) + list((item.get(k) or {}).get("parameters") or [])
                for prm in params:
                    for pk in prm:
                        if pk not in PARAMETER_KEYS:
                            errors.append("paths.%s: parameter key %r" % (p, pk))
        for name, s in d["components"]["schemas"].items():
            self.check_schema(s, "components.schemas." + name, errors)
        for name, r in d["components"]["responses"].items():
            for rk in r:
                if rk not in RESPONSE_KEYS:
                    errors.append("components.responses.%s: unknown key %r" % (name, rk))
        return errors

    def validate(self, v, s, where="$"):
        """Errors of value v against schema s (the subset the document uses)."""
        s = self.deref(s)
        if v is None:
            return [] if s.get("nullable") else ["%s: null not allowed" % where]
        if "allOf" in s:
            merged = {"type": "object", "properties": {}, "required": []}
            for sub in s["allOf"]:
                sub = self.deref(sub)
                merged["properties"].update(sub.get("properties") or {})
                merged["required"] += sub.get("required") or []
            return self.validate(v, merged, where)
        if "oneOf" in s:
            ok = [sub for sub in s["oneOf"] if not self.validate(v, sub, where)]
            return [] if len(ok) == 1 else ["%s: %r matches %d of oneOf" % (where, v, len(ok))]
        t = s.get("type")
        kinds = {"object": dict, "array": list, "string": str, "boolean": bool}
        if t == "integer" and not (isinstance(v, int) and not isinstance(v, bool)):
            return ["%s: %r is not an integer" % (where, v)]
        if t == "number" and not (isinstance(v, (int, float)) and not isinstance(v, bool)):
            return ["%s: %r is not a number" % (where, v)]
        if t in kinds and not isinstance(v, kinds[t]):
            return ["%s: %r is not a %s" % (where, v, t)]
        errors = []
        if "enum" in s and v not in s["enum"]:
            errors.append("%s: %r not in %r" % (where, v, s["enum"]))
        for k, test in (("minimum", lambda a, b: a >= b), ("maximum", lambda a, b: a <= b)):
            if k in s and not test(v, s[k]):
                errors.append("%s: %r breaks %s %r" % (where, v, k, s[k]))
        if isinstance(v, list):
            for i, x in enumerate(v):
                errors += self.validate(x, s.get("items", {}), "%s[%d]" % (where, i))
        if isinstance(v, dict):
            props = s.get("properties") or {}
            for k in s.get("required") or []:
                if k not in v:
                    errors.append("%s: missing %r" % (where, k))
            extra = s.get("additionalProperties")
            for k, x in v.items():
                if k in props:
                    errors += self.validate(x, props[k], where + "." + k)
                elif isinstance(extra, dict):
                    errors += self.validate(x, extra, where + "." + k)
                elif extra is not True and (props or extra is False):
                    errors.append("%s: field %r is not in the document" % (where, k))
        return errors

    def response_schema(self, path, method, code):
        r = self.deref(self.doc["paths"][path][method]["responses"][str(code)])
        return r["content"]["application/json"]["schema"]


def announce_body(server, method, path, length):
    """(status, JSON) of a request whose headers announce a body of length
    bytes and that sends none: a body over the limit is refused from its
    Content-Length (sending it would race the server's early answer)."""
    c = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    c.sendall(b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (method.encode(), path.encode(), length))
    r = http.client.HTTPResponse(c)
    r.begin()
    data = r.read()
    c.close()
    return r.status, json.loads(data)


class OpenApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = Doc(load_doc())

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kestrel-openapi-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_document_is_valid(self):
        self.assertEqual(self.doc.structure_errors(), [])

    def test_examples_match_spec_schema(self):
        spec = self.doc.doc["components"]["schemas"]["Spec"]
        folder = os.path.join(TOP, "examples")
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        for n in names:
            with open(os.path.join(folder, n)) as f:
                doc = json.load(f)
            if "objective" not in doc:      # a trainer config, not a study
                continue
            self.assertEqual(self.doc.validate(doc, spec), [], n)
        # the run fields docs/spec.md lists besides the examples' (nice was left out)
        full = fn_spec("x")
        full["run"].update(kill_grace=2, nice=10, resources={"gpus": 1})
        self.assertEqual(self.doc.validate(full, spec), [])
        bad = fn_spec("x")
        bad["budget"]["max_trails"] = 3
        self.assertIn("$.budget: field 'max_trails' is not in the document",
                      self.doc.validate(bad, spec))

    def check(self, server, method, path, route, code=200, body=None):
        status, data = server.json(method, path, body)
        self.assertEqual(status, code, data)
        errors = self.doc.validate(data, self.doc.response_schema(route, method.lower(), code))
        self.assertEqual(errors, [], "%s %s" % (method, path))
        return data

    def test_live_answers_match_their_schemas(self):
        s = Server(self.tmp, os.path.join(self.tmp, "k.db"))
        self.servers.append(s)
        self.check(s, "POST", "/api/v1/studies", "/api/v1/studies", 201, fn_spec("api", trials=6))
        s.wait_state("api", "COMPLETE")
        self.check(s, "GET", "/api/v1/studies", "/api/v1/studies")
        self.check(s, "GET", "/api/v1/studies/api", "/api/v1/studies/{name}")
        page = self.check(s, "GET", "/api/v1/studies/api/trials?limit=3",
                          "/api/v1/studies/{name}/trials")
        self.assertEqual(len(page["trials"]), 3)
        page = self.check(s, "GET", "/api/v1/studies/api/trials?limit=3&format=columns",
                          "/api/v1/studies/{name}/trials")
        self.assertEqual(len(page["columns"]["number"]), 3)
        self.check(s, "GET", "/api/v1/studies/api/trials/0", "/api/v1/studies/{name}/trials/{number}")
        self.check(s, "GET", "/api/v1/studies/api/best", "/api/v1/studies/{name}/best")
        self.check(s, "GET", "/api/v1/studies/api/curves", "/api/v1/studies/{name}/curves")
        self.check(s, "GET", "/api/v1/studies/api/export.json", "/api/v1/studies/{name}/export.json")
        # the CSV's last columns are those the document lists, in its order
        # (it left out `enqueued`)
        desc = self.doc.doc["paths"]["/api/v1/studies/{name}/export.csv"]["get"]["description"]
        tail = ["started_at"] + [c.strip() for c in
                                 desc.split("started_at, ", 1)[1].split(".", 1)[0].split(",")]
        header = s.request("GET", "/api/v1/studies/api/export.csv")[2].decode().splitlines()[0]
        self.assertEqual(header.split(",")[-len(tail):], tail)
        self.check(s, "POST", "/api/v1/studies/api/enqueue", "/api/v1/studies/{name}/enqueue", 201,
                   [{"x1": 1, "x2": 2}])
        self.check(s, "GET", "/api/v1/studies/api/enqueue", "/api/v1/studies/{name}/enqueue")
        self.check(s, "POST", "/api/v1/studies/api/enqueue", "/api/v1/studies/{name}/enqueue", 400,
                   {"x9": 1})
        # a value no parameter takes (true: a space's values are numbers and
        # texts) is refused, and the document's Configuration refuses it too
        config = {"x1": True, "x2": 2}
        self.check(s, "POST", "/api/v1/studies/api/enqueue", "/api/v1/studies/{name}/enqueue", 400,
                   config)
        self.assertNotEqual(self.doc.validate(config, {"$ref": "#/components/schemas/Configuration"}),
                            [])
        self.check(s, "PUT", "/api/v1/studies/api/note", "/api/v1/studies/{name}/note", 200,
                   {"note": "a note"})
        self.check(s, "GET", "/api/v1/studies/api/note", "/api/v1/studies/{name}/note")
        self.check(s, "GET", "/api/v1/studies/api", "/api/v1/studies/{name}")
        self.check(s, "GET", "/api/v1/studies/nope", "/api/v1/studies/{name}", 404)
        self.check(s, "POST", "/api/v1/studies/api/stop", "/api/v1/studies/{name}/stop", 409)
        self.check(s, "POST", "/api/v1/studies", "/api/v1/studies", 400, {"name": "x"})

    def test_a_resume_whose_stored_spec_no_longer_parses_is_documented(self):
        # its 500 (test_api's test_resume_of_a_spec_that_no_longer_parses_says_why)
        # was in no study route's responses
        path = os.path.join(self.tmp, "o.db")
        s = Server(self.tmp, path)
        self.servers.append(s)
        spec = fn_spec("old", trials=1, parallel=1)
        self.check(s, "POST", "/api/v1/studies", "/api/v1/studies", 201, spec)
        s.wait_state("old", "COMPLETE")
        spec["strategy"] = {"name": "sobol", "options": {"skip": 10 ** 12}}
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("UPDATE studies SET spec = ?, state = 'STOPPED' WHERE name = 'old'",
                   (json.dumps(spec),))
        db.close()
        e = self.check(s, "POST", "/api/v1/studies/old/resume", "/api/v1/studies/{name}/resume", 500)
        self.assertEqual((e["error"]["code"], e["error"]["path"]),
                         ("internal", "strategy.options.skip"))

    def doc_operations(self, with_files=False):
        """(method, path) of every documented API route; the dashboard's
        files (/ and /{file}) are the fallback, not routes (with_files: them
        too)."""
        for path, item in self.doc.doc["paths"].items():
            if path in ("/", "/{file}") and not with_files:
                continue
            for method in item:
                if method != "parameters":
                    yield method, path

    def doc_query_names(self, method, path):
        item = self.doc.doc["paths"][path]
        params = list(item.get("parameters") or []) + list(item[method].get("parameters") or [])
        return sorted(p["name"] for p in map(self.doc.deref, params) if p["in"] == "query")

    def test_routes_are_the_servers(self):
        # src/api.c's table is what the server routes; a route the document
        # lacks (or one it gave up) shows here, not only to a client
        with open(os.path.join(TOP, "src", "api.c")) as f:
            src = f.read()
        table = src[src.index("static const http_route routes[]"):]
        table = table[:table.index("};")]
        served = set(re.findall(r'\{"([A-Z]+)", "([^"]+)"', table))
        documented = {(m.upper(), re.sub(r"\{[^}]+\}", "*", p)) for m, p in self.doc_operations()}
        self.assertEqual(sorted(documented - served), [], "documented, not served")
        self.assertEqual(sorted(served - documented), [], "served, not documented")

    def test_query_parameters_are_the_servers(self):
        # every route answers an unknown query parameter with a 400 that
        # lists the ones it takes (the token aside), before any body is read
        s = Server(self.tmp, os.path.join(self.tmp, "q.db"))
        self.servers.append(s)
        fill = {"{name}": "nope", "{number}": "0", "{id}": "1"}
        no_400 = []
        for method, path in self.doc_operations():
            url = path
            for k, v in fill.items():
                url = url.replace(k, v)
            status, data = s.json(method.upper(), url + "?zz_unknown=1",
                                  b"{}" if method in ("post", "put") else None)
            where = "%s %s" % (method.upper(), path)
            self.assertEqual((status, data["error"]["path"]), (400, "zz_unknown"), where)
            takes = data["error"]["message"].rpartition("this route takes")[2]
            served = sorted(takes.lstrip(": ").split()) if takes != " none" else []
            self.assertEqual(self.doc_query_names(method, path), served, where)
            if "400" not in self.doc.doc["paths"][path][method]["responses"]:
                no_400.append(where)
        self.assertEqual(no_400, [], "answer 400 but do not say so")

    def test_refusals_of_every_route_are_documented(self):
        # every route refuses a web page of another site (403, before its
        # route), and every JSON body over 1 MiB (413): each operation says so,
        # with an Error whose code the schema lists
        s = Server(self.tmp, os.path.join(self.tmp, "r.db"))
        self.servers.append(s)
        fill = {"{name}": "nope", "{number}": "0", "{id}": "1", "{file}": "style.css"}
        missing = []

        def documented(path, method, code, answer):
            where = "%s %s %d" % (method.upper(), path, code)
            self.assertEqual(answer[0], code, where)
            if str(code) not in self.doc.doc["paths"][path][method]["responses"]:
                missing.append(where)
                return
            schema = self.doc.response_schema(path, method, code)
            self.assertEqual(self.doc.validate(answer[1], schema), [], where)

        for method, path in self.doc_operations(with_files=True):
            url = path
            for k, v in fill.items():
                url = url.replace(k, v)
            documented(path, method, 403,
                       s.json(method.upper(), url, None, headers={"Host": "evil.example"}))
            op = self.doc.doc["paths"][path][method]
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                documented(path, method, 413,
                           announce_body(s, method.upper(), url, (1 << 20) + 10))
        self.assertEqual(missing, [], "answered, not documented")

    def test_worker_answers_match_their_schemas(self):
        s = Server(self.tmp, os.path.join(self.tmp, "w.db"), "--max-parallel", "0")
        self.servers.append(s)
        s.json("POST", "/api/v1/studies", fn_spec("remote", trials=2))
        w = self.check(s, "POST", "/api/v1/workers", "/api/v1/workers", 201,
                       {"host": "gpu7", "pid": 42, "slots": 2, "gpus": [0, 1],
                        "labels": {"rack": "r1"}, "slurm_job": "12_3"})
        key = {"key": w["key"]}
        lease = self.check(s, "POST", "/api/v1/workers/%d/lease" % w["id"],
                           "/api/v1/workers/{id}/lease", 200, key)
        self.check(s, "GET", "/api/v1/workers", "/api/v1/workers")
        self.check(s, "POST", "/api/v1/workers/%d/heartbeat" % w["id"],
                   "/api/v1/workers/{id}/heartbeat", 200, key)
        call = {"worker": w["id"], "key": w["key"], "lines": ['{"step": 1, "value": 3}']}
        path = "/api/v1/leases/%d/" % lease["lease"]
        self.check(s, "POST", path + "report", "/api/v1/leases/{id}/report", 200, call)
        call["exit"] = {"exited": True, "exit_code": 0, "seconds": 0.5}
        self.check(s, "POST", path + "finish", "/api/v1/leases/{id}/finish", 200, call)
        self.check(s, "POST", path + "report", "/api/v1/leases/{id}/report", 409, call)
        self.check(s, "POST", "/api/v1/workers/99/heartbeat", "/api/v1/workers/{id}/heartbeat",
                   404, key)


if __name__ == "__main__":
    unittest.main(verbosity=2)
