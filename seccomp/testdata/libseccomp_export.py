#!/usr/bin/python3
"""Build a seccomp filter with libseccomp (python3-seccomp) and export it.

Reads a JSON request on stdin:
  {"default": <uint32 ret>, "badarch": <uint32 ret or null>,
   "arches": ["X86_64", "X86", ...],
   "rules": [{"action": <uint32 ret>, "name": "read",
              "args": [{"index": 0, "op": "EQ", "value": 1, "valueTwo": 0}]}]}
Writes the raw struct sock_filter array (8 bytes per instruction, native
byte order) to the file named by argv[1], and prints on stdout a JSON object
{"unknown": ["name", ...], "errors": [{"name": ..., "error": ...}]}: the
names libseccomp does not know (skipped, as runc does) and the rules it
refused.
Used only by the nsfork seccomp package's differential tests.
"""
import json
import sys

import seccomp

OPS = {
    "NE": seccomp.NE, "LT": seccomp.LT, "LE": seccomp.LE, "EQ": seccomp.EQ,
    "GE": seccomp.GE, "GT": seccomp.GT, "MASKED_EQ": seccomp.MASKED_EQ,
}


def s32(v):
    """The python binding takes actions as C ints: KILL_PROCESS is 0x80000000."""
    return v - (1 << 32) if v >= 1 << 31 else v


def main():
    req = json.load(sys.stdin)
    f = seccomp.SyscallFilter(s32(req["default"]))
    if req.get("badarch") is not None:
        f.set_attr(seccomp.Attr.ACT_BADARCH, req["badarch"])
    if req.get("optimize"):
        f.set_attr(seccomp.Attr.CTL_OPTIMIZE, req["optimize"])
    for name in (req.get("arches") or []):
        arch = getattr(seccomp.Arch, name)
        if not f.exist_arch(arch):
            f.add_arch(arch)
    unknown = []
    errors = []
    for rule in (req.get("rules") or []):
        name = rule["name"]
        if seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) == -1:
            # like runc: names the native libseccomp table lacks are skipped
            unknown.append(rule["name"])
            continue
        args = [seccomp.Arg(a["index"], OPS[a["op"]], a["value"], a.get("valueTwo", 0))
                for a in (rule.get("args") or [])]
        try:
            f.add_rule(s32(rule["action"]), rule["name"], *args)
        except Exception as e:  # noqa: BLE001
            errors.append({"name": rule["name"], "error": str(e)})
    with open(sys.argv[1], "wb") as out:
        f.export_bpf(out)
    json.dump({"unknown": unknown, "errors": errors}, sys.stdout)


if __name__ == "__main__":
    main()
