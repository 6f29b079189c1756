#!/usr/bin/env python3
"""Renders a LAVA device dictionary (a jinja2 template extending a device
type) into the device YAML lava-run takes, as lava-server does, without a
server: the device-type templates are this repository's lava/device-types
and LAVA's own (base.jinja2 and the shipped types, from the lava-server
package).

  render-device.py [--templates DIR]... [--set NAME=VALUE]... DICT > device.yaml

--set passes variables the dictionary does not set (e.g. gokvm_prefix).
"""
import argparse
import os
import sys

import jinja2
import yaml

LAVA_TEMPLATE_DIRS = [
    "/etc/lava-server/dispatcher-config/device-types",
    "/usr/share/lava-server/device-types",
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--templates", action="append", default=[],
                   help="a directory of LAVA device-type templates (base.jinja2); may repeat")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a template variable")
    p.add_argument("dictionary")
    args = p.parse_args()
    dirs = [os.path.join(here, "device-types")] + args.templates + LAVA_TEMPLATE_DIRS
    dirs = [d for d in dirs if os.path.isdir(d)]
    if not any(os.path.exists(os.path.join(d, "base.jinja2")) for d in dirs):
        sys.exit("render-device.py: no LAVA base.jinja2 in %s: install lava-server's templates "
                 "or pass --templates" % ", ".join(dirs))
    context = {}
    for kv in args.set:
        name, sep, value = kv.partition("=")
        if not sep or not name:
            sys.exit("render-device.py: --set %r: want NAME=VALUE" % kv)
        context[name] = value
    # As lava-server renders device dictionaries.
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(dirs), trim_blocks=True,
                             autoescape=False, undefined=jinja2.Undefined)
    with open(args.dictionary) as f:
        text = env.from_string(f.read()).render(**context)
    yaml.safe_load(text)  # fails on a template that renders no YAML
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
