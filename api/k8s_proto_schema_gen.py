#!/usr/bin/env python3
"""Writes api/k8s_proto_schema_table.inc: the protobuf schemas kite uses to
decode Kubernetes protobuf request bodies (see api/k8s_proto_schema.h).

It reads two source trees checked out at the Kubernetes release kite targets
(k8s.io/api and k8s.io/apimachinery, tag v0.32.x) and records facts only:
  - from each generated.proto: message names, field numbers, wire types and
    the message type a field refers to;
  - from the Go types (*.go next to it): each field's JSON name, whether it is
    inlined, a pointer, and tagged omitempty (the protobuf tag gives the field
    number that joins the two);
  - from register.go: the kinds each group-version registers.

Usage:
  git -C <k8s.io/api clone> archive v0.32.13 | tar -x -C /tmp/k8s-api
  git -C <k8s.io/apimachinery clone> archive v0.32.13 pkg | tar -x -C /tmp/k8s-am
  python3 api/k8s_proto_schema_gen.py /tmp/k8s-api /tmp/k8s-am v0.32.13 \
      > api/k8s_proto_schema_table.inc
"""

import os
import re
import sys

# Group-version folders of k8s.io/api whose kinds get a schema, with their
# apiVersion. The set of DESIGN.md §5 / issue 3 plus the groups kubectl's
# typed commands post to (authorization reviews, certificate approval).
GROUP_VERSIONS = [
    ("core/v1", "v1"),
    ("apps/v1", "apps/v1"),
    ("batch/v1", "batch/v1"),
    ("autoscaling/v1", "autoscaling/v1"),
    ("autoscaling/v2", "autoscaling/v2"),
    ("rbac/v1", "rbac.authorization.k8s.io/v1"),
    ("networking/v1", "networking.k8s.io/v1"),
    ("policy/v1", "policy/v1"),
    ("scheduling/v1", "scheduling.k8s.io/v1"),
    ("authentication/v1", "authentication.k8s.io/v1"),
    ("authorization/v1", "authorization.k8s.io/v1"),
    ("certificates/v1", "certificates.k8s.io/v1"),
    ("coordination/v1", "coordination.k8s.io/v1"),
    ("discovery/v1", "discovery.k8s.io/v1"),
    ("events/v1", "events.k8s.io/v1"),
    ("storage/v1", "storage.k8s.io/v1"),
]

APIMACHINERY_PACKAGES = {
    "k8s.io.apimachinery.pkg.apis.meta.v1": "pkg/apis/meta/v1",
    "k8s.io.apimachinery.pkg.runtime": "pkg/runtime",
    "k8s.io.apimachinery.pkg.runtime.schema": "pkg/runtime/schema",
    "k8s.io.apimachinery.pkg.util.intstr": "pkg/util/intstr",
    "k8s.io.apimachinery.pkg.api.resource": "pkg/api/resource",
}

# Messages with their own JSON form (custom MarshalJSON in Go). Types that no
# kind here reaches (meta/v1 Duration; uint, float and double scalars) are left
# out on purpose: meeting one stops the generator ("unknown message").
SPECIAL = {
    "k8s.io.apimachinery.pkg.apis.meta.v1.Time": "kTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "kMicroTime",
    "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "kFieldsV1",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "kRawExtension",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "kIntOrString",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "kQuantity",
}

SCALARS = {
    "string": "kString",
    "bool": "kBool",
    "int32": "kInt32",
    "int64": "kInt64",
    "bytes": "kBytes",
}

FIELD_RE = re.compile(
    r"^\s*(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")
MAP_RE = re.compile(
    r"^\s*map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;")


def parse_proto(path):
    """Returns (package, {message: [(num, label, type, name)]})."""
    package = None
    messages = {}
    current = None
    with open(path) as f:
        for line in f:
            s = line.strip()
            if s.startswith("//"):
                continue
            m = re.match(r"^package\s+([\w.]+);", s)
            if m:
                package = m.group(1)
                continue
            m = re.match(r"^message\s+(\w+)\s*\{", s)
            if m:
                if current is not None:
                    sys.exit("nested message in %s" % path)
                current = m.group(1)
                messages[current] = []
                continue
            if current is None:
                continue
            if s == "}":
                current = None
                continue
            m = MAP_RE.match(line)
            if m:
                messages[current].append(
                    (int(m.group(4)), "map", (m.group(1), m.group(2)), m.group(3)))
                continue
            m = FIELD_RE.match(line)
            if m:
                messages[current].append(
                    (int(m.group(4)), m.group(1), m.group(2), m.group(3)))
                continue
            if s and not s.startswith("option") and not s.startswith("reserved"):
                sys.exit("unparsed line in %s: %r" % (path, line))
    return package, messages


GO_FIELD_RE = re.compile(r"^\s*(?:(\w+)\s+)?([*\[\]\w.]+)\s+`([^`]*)`\s*(?://.*)?$")


def parse_go(folder):
    """Returns ({struct: {num: (json_name, inline, pointer, omitempty)}},
    {type name: underlying go type for non-struct types})."""
    structs = {}
    others = {}
    for fn in sorted(os.listdir(folder)):
        if not fn.endswith(".go") or fn.endswith("_test.go"):
            continue
        current = None
        with open(os.path.join(folder, fn)) as f:
            for line in f:
                m = re.match(r"^type\s+(\w+)\s+struct\s*\{", line)
                if m:
                    current = m.group(1)
                    structs[current] = {}
                    continue
                m = re.match(r"^type\s+(\w+)\s+(\S.*)$", line)
                if m and current is None:
                    others[m.group(1)] = m.group(2).strip()
                    continue
                if current is None:
                    continue
                if line.startswith("}"):
                    current = None
                    continue
                m = GO_FIELD_RE.match(line)
                if not m:
                    continue
                go_name, go_type, tags = m.group(1), m.group(2), m.group(3)
                pm = re.search(r'protobuf:"[a-z0-9]+,(\d+),', tags)
                if not pm:
                    continue
                jm = re.search(r'json:"([^"]*)"', tags)
                json_tag = jm.group(1) if jm else ""
                parts = json_tag.split(",")
                json_name = parts[0]
                inline = "inline" in parts[1:]
                omitempty = "omitempty" in parts[1:]
                if go_name is None:  # embedded struct
                    embedded = go_type.lstrip("*").split(".")[-1]
                    go_name = embedded
                if json_name == "-":
                    continue
                if not json_name and not inline:
                    json_name = go_name
                structs[current][int(pm.group(1))] = (
                    json_name, inline, go_type.startswith("*"), omitempty)
    return structs, others


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    api_root, am_root, tag = sys.argv[1], sys.argv[2], sys.argv[3]

    protos = {}   # package -> messages
    gos = {}      # package -> (structs, others)
    kinds = []    # (apiVersion, kind, qualified message)

    def load(package_dir, root):
        pkg, msgs = parse_proto(os.path.join(root, package_dir, "generated.proto"))
        protos[pkg] = msgs
        gos[pkg] = parse_go(os.path.join(root, package_dir))
        return pkg

    for pkg, d in APIMACHINERY_PACKAGES.items():
        got = load(d, am_root)
        assert got == pkg, (got, pkg)
    for d, api_version in GROUP_VERSIONS:
        pkg = load(d, api_root)
        with open(os.path.join(api_root, d, "register.go")) as f:
            reg = f.read()
        m = re.search(r"func addKnownTypes\(.*?\n\}", reg, re.S)
        for k in re.findall(r"&(\w+)\{\}", m.group(0)):
            if k.endswith("List") or k not in protos[pkg]:
                continue
            kinds.append((api_version, k, pkg + "." + k))

    def resolve(pkg, t):
        if t.startswith("."):
            return t[1:]
        return pkg + "." + t

    # Walk every message reachable from the kinds.
    order = []
    seen = set()
    wrappers = set()
    stack = [q for _, _, q in kinds]
    while stack:
        q = stack.pop()
        if q in seen or q in SPECIAL:
            continue
        seen.add(q)
        pkg, name = q.rsplit(".", 1)
        msgs = protos[pkg]
        if name not in msgs:
            sys.exit("unknown message " + q)
        structs, others = gos[pkg]
        if name not in structs:
            under = others.get(name, "")
            if under.startswith("[]") and msgs[name] == [(1, "repeated", "string", "items")]:
                wrappers.add(q)
                continue
            sys.exit("no Go struct for " + q)
        order.append(q)
        for num, label, typ, fname in msgs[name]:
            if label == "map":
                if typ[0] != "string":
                    sys.exit("map key %s in %s" % (typ[0], q))
                typ = typ[1]
            if typ not in SCALARS:
                stack.append(resolve(pkg, typ))

    order.sort(key=lambda q: (q.rsplit(".", 1)[1], q))
    short = {}
    for q in order:
        n = q.rsplit(".", 1)[1]
        short.setdefault(n, []).append(q)
    def display(q):
        pkg, n = q.rsplit(".", 1)
        if len(short[n]) == 1:
            return n
        return pkg.replace("k8s.io.api.", "").replace("k8s.io.apimachinery.pkg.", "") + "." + n
    index = {q: i for i, q in enumerate(order)}

    out = []
    w = out.append
    w("// Generated by api/k8s_proto_schema_gen.py from k8s.io/api and")
    w("// k8s.io/apimachinery %s (generated.proto + Go struct tags). Do not edit." % tag)
    w("// Included once, by api/k8s_proto_schema.cpp.")
    w("// clang-format off")
    w("")
    w("namespace {")
    w("")
    w("using K = ProtoFieldKind;")
    w("")
    field_counts = {}
    total_fields = 0
    for q in order:
        pkg, name = q.rsplit(".", 1)
        structs, _ = gos[pkg]
        gofields = structs[name]
        rows = []
        for num, label, typ, fname in sorted(protos[pkg][name]):
            flags = []
            if label == "map":
                flags.append("kProtoMap")
                typ = typ[1]
            elif label == "repeated":
                flags.append("kProtoRepeated")
            if num not in gofields:
                sys.exit("field %d of %s has no Go tag" % (num, q))
            json_name, inline, pointer, omitempty = gofields[num]
            if inline:
                flags.append("kProtoInline")
            if pointer:
                flags.append("kProtoPointer")
            if omitempty:
                flags.append("kProtoOmitEmpty")
            msg = 0
            if typ in SCALARS:
                kind = SCALARS[typ]
            else:
                r = resolve(pkg, typ)
                if r in SPECIAL:
                    kind = SPECIAL[r]
                elif r in wrappers:
                    kind = "kStringList"
                else:
                    kind = "kMessage"
                    msg = index[r]
            if inline and kind != "kMessage":
                sys.exit("inline non-message field %d of %s" % (num, q))
            rows.append('  {%d, "%s", K::%s, %s, %d},' % (
                num, json_name, kind, " | ".join(flags) if flags else "0", msg))
        field_counts[q] = len(rows)
        total_fields += len(rows)
        if rows:
            w("constexpr ProtoFieldSchema kFields%d[] = {  // %s" % (index[q], q))
            out.extend(rows)
            w("};")
    w("")
    w("}  // namespace")
    w("")
    w("constexpr ProtoMessageSchema kProtoMessages[] = {")
    for q in order:
        i = index[q]
        n = field_counts[q]
        w('  {"%s", %s, %d},' % (display(q), "kFields%d" % i if n else "nullptr", n))
    w("};")
    w("")
    kinds.sort()
    w("constexpr ProtoKindSchema kProtoKinds[] = {")
    for api_version, k, q in kinds:
        w('  {"%s", "%s", %d},' % (api_version, k, index[q]))
    w("};")
    w("")
    w("// clang-format on")
    print("\n".join(out))
    sys.stderr.write("%d messages, %d fields, %d kinds\n" % (len(order), total_fields, len(kinds)))


if __name__ == "__main__":
    main()
