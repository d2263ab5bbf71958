"""``nvseg phantom OUT_DIR [--seed N] [--kind head|analytic] [...]``: write a synthetic case.

Writes, all or nothing, OUT_DIR/ct.nii.gz (int16 HU), OUT_DIR/labels.nii.gz (uint8, 1-6) and
OUT_DIR/truth.json (docs/interfaces.md). ``head``: the realistic head phantom (options --fov, --mouth,
--spacing, --ear-canal; anything not given is drawn from the seed). ``analytic``: sphere or ellipsoid condyle
under a concentric cap with closed-form NV (options --variant, --spacing).
"""

import time

from ..errors import InputError

KINDS = ("head", "analytic")


def add_parser(subparsers):
    p = subparsers.add_parser(
        "phantom",
        help="write a synthetic CT with labels and the true negative volume",
        description="Write a synthetic head CT (or an analytic joint phantom) with its label map "
                    "(1-6) and truth.json holding the true negative and condyle volumes.")
    p.add_argument("output", metavar="OUT_DIR", help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument("--kind", choices=KINDS, default="head", help="phantom kind (default head)")
    p.add_argument("--spacing", type=float, nargs=3, metavar=("SX", "SY", "SZ"),
                   help="voxel size in mm (head: drawn from the seed when omitted; "
                        "analytic: default 0.5 0.5 0.5)")
    p.add_argument("--fov", choices=("head", "cbct", "cbct-left", "cbct-right"),
                   help="head kind: whole head, a CBCT-like crop of one or both joints, or of "
                        "the named joint only (drawn when omitted)")
    p.add_argument("--mouth", choices=("closed", "open"),
                   help="head kind: closed, or open with the condyles on the eminences "
                        "(drawn when omitted)")
    p.add_argument("--ear-canal", choices=("behind", "open"),
                   help="head kind: the ear canal inside the tympanic bone (default), or open "
                        "2 mm behind the condyle, within the rays' reach (tests the air rule)")
    p.add_argument("--variant", choices=("sphere", "ellipsoid"),
                   help="analytic kind: condyle shape (default sphere)")
    p.set_defaults(func=run)
    return p


def phantom_options(args):
    """make_phantom keyword options for the parsed ``args``; InputError on mismatched options."""
    if args.seed < 0:
        raise InputError("--seed must be >= 0, got %d" % args.seed)
    if args.kind == "head":
        if args.variant is not None:
            raise InputError("--variant applies to --kind analytic only")
        return {"fov": args.fov, "mouth": args.mouth, "spacing": args.spacing,
                "ear_canal": args.ear_canal}
    if args.fov is not None or args.mouth is not None or args.ear_canal is not None:
        raise InputError("--fov, --mouth and --ear-canal apply to --kind head only")
    options = {"variant": args.variant or "sphere"}
    if args.spacing is not None:
        if not all(0.1 <= v <= 3.0 for v in args.spacing):
            raise InputError("--spacing needs three values between 0.1 and 3 mm, got %s"
                             % " ".join("%g" % v for v in args.spacing))
        options["spacing"] = tuple(args.spacing)
    return options


def run(args):
    from ..phantom import make_phantom, write_phantom

    options = phantom_options(args)
    start = time.time()
    phantom = make_phantom(args.kind, args.seed, **options)
    write_phantom(phantom, args.output)
    sides = ", ".join("%s NV %.1f mm3" % (s, phantom.truth[s]["negative_volume_mm3"])
                      if phantom.truth.get(s) else "%s absent" % s for s in ("left", "right"))
    print("phantom %s seed %d -> %s (%s; %.1f s)" % (args.kind, args.seed, args.output, sides,
                                                    time.time() - start))
    return 0
