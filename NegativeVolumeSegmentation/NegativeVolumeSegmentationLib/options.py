"""The options of a measurement run: one place for every default, allowed value and check.

The command line (``nvseg run`` / ``nvseg negative-volume``: :func:`add_arguments`), the Slicer
panel's parameter node and its Logic (:func:`RunOptions.from_values`), the background run's
child process (:meth:`RunOptions.to_json` / :meth:`RunOptions.from_json`) and the training
configs' evaluation section (:data:`DEFAULTS`) all read them from here. Stdlib only: the Slicer
module file may import it at its top level.

Units: distances in mm, thresholds in percent, smoothing 0-1.
"""

import json

from .errors import InputError

DEVICES = ("auto", "cpu", "cuda")   # auto: CUDA when present, else CPU
MODES = ("confined", "bounded", "paper")  # see docs/method.md


class Option(object):
    """One option: its default, its kind ("bool", "number", "choice") and limits.

    ``low``/``high`` bound a number (``low_open``: the bound itself is refused, e.g. a distance
    must be > 0); ``flag`` is its command-line spelling (None: not on the command line);
    ``panel`` the (low, high) range of its slider in the Slicer panel (within the allowed range;
    the parameter node's ``WithinRange`` reads it, and sets the slider's ends from it).
    """

    def __init__(self, name, default, kind, help, choices=None, low=None, high=None,
                 low_open=False, flag=None, metavar=None, panel=None):
        self.name, self.default, self.kind, self.help = name, default, kind, help
        self.choices, self.low, self.high, self.low_open = choices, low, high, low_open
        self.flag, self.metavar, self.panel = flag, metavar, panel

    def check(self, value):
        """The value converted to the option's type; InputError (one line) when not allowed."""
        if self.kind == "bool":
            return _yes_or_no(self.name, value)
        if self.kind == "choice":
            text = str(self.default if value is None else value).lower()
            if text not in self.choices:
                raise InputError("%s must be one of %s, got %r"
                                 % (self.name, "|".join(self.choices), value))
            return text
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InputError("%s must be a number, got %r" % (self.name, value))
        if number != number or abs(number) == float("inf") or (self.low is not None and (
                number < self.low or (self.low_open and number == self.low))) or (
                self.high is not None and number > self.high):
            raise InputError("%s must be %s, got %r" % (self.name, self.range_text(), value))
        return number

    def range_text(self):
        if self.low is not None and self.low_open and self.high is None:
            return "a positive finite number" + (" of mm" if self.name.endswith("_mm") else "")
        low = "-inf" if self.low is None else "%g" % self.low
        high = "inf" if self.high is None else "%g" % self.high
        return "between %s and %s" % (low, high)


_WORDS = {"true": True, "yes": True, "on": True, "1": True,
          "false": False, "no": False, "off": False, "0": False}


def _yes_or_no(name, value):
    """True / False from a bool (numpy's too), 0 / 1, or a word (true / false, yes / no, on /
    off, case ignored); InputError for anything else: ``bool("false")`` is True, and
    ``segment="false"`` would segment the CT and replace the segments given to be measured."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _WORDS:
            return _WORDS[word]
    elif value is not None and not isinstance(value, float):
        try:
            if value in (True, False):
                return bool(value)
        except (TypeError, ValueError):   # an array: no single truth value
            pass
    raise InputError("%s must be true or false, got %r" % (name, value))


OPTIONS = (
    Option("segment", True, "bool",
           "True: segment the CT with the bundled models; False: measure the condyle / "
           "temporal-bone segments already given"),
    Option("device", "auto", "choice", "compute device: auto = CUDA when present, else CPU",
           choices=DEVICES, flag="--device"),
    Option("max_distance_mm", 10.0, "number", "longest inflation ray in mm",
           low=0.0, low_open=True, flag="--max-distance", metavar="MM", panel=(1.0, 30.0)),
    Option("mode", "confined", "choice",
           "confined: rays missing the temporal bone count 0 (holes of the segmented fossa roof "
           "bridged); bounded: the same rays, only from "
           "the part of the condyle the fossa's apex sees, between the condylar poles (fine "
           "grids only, docs/method.md); paper: min(hit, max distance) clipped by a cube "
           "(Belikova et al. 2021)", choices=MODES, flag="--mode"),
    Option("cube_mm", 30.0, "number", "edge of the paper-mode clipping cube in mm",
           low=0.0, low_open=True, flag="--cube", metavar="MM"),
    Option("enhance_tb", False, "bool",
           "the paper's temporal-bone enhancement (edges x probability, closing)",
           flag="--enhance-tb"),
    Option("smoothing", 0.5, "number", "closed-surface smoothing factor of the 3D display",
           low=0.0, high=1.0, panel=(0.0, 1.0)),
    Option("show_thickness", True, "bool",
           "add the thickness-coloured condyle models and their colour legend"),
    Option("create_surfaces", True, "bool", "build closed surfaces so the segments show in 3D"),
    Option("asymmetry_threshold_percent", 6.0, "number",
           "flag an asymmetry index above this (percent; Habets: > 6 %% is asymmetric)",
           low=0.0, high=100.0, panel=(0.0, 50.0)),
)
BY_NAME = dict((o.name, o) for o in OPTIONS)
DEFAULTS = dict((o.name, o.default) for o in OPTIONS)
SLIDERS = dict((o.name, o.panel) for o in OPTIONS if o.panel)   # the panel's slider ranges


class RunOptions(object):
    """Checked options of one run; attributes named as in :data:`OPTIONS`.

    ``RunOptions(mode="paper")`` fills in the defaults and checks every value (InputError naming
    the option). Immutable by convention: :meth:`replace` returns a changed copy.
    """

    def __init__(self, **values):
        unknown = sorted(set(values) - set(BY_NAME))
        if unknown:
            raise InputError("unknown option(s) %s; known: %s"
                             % (", ".join(unknown), ", ".join(sorted(BY_NAME))))
        for option in OPTIONS:
            value = values.get(option.name, option.default)
            setattr(self, option.name, option.check(value))

    @classmethod
    def from_values(cls, values=None, **more):
        """From a dict (a RunOptions is returned as it is) plus keywords."""
        if isinstance(values, RunOptions) and not more:
            return values
        merged = values.to_dict() if isinstance(values, RunOptions) else dict(values or {})
        merged.update(more)
        return cls(**merged)

    def to_dict(self):
        return dict((o.name, getattr(self, o.name)) for o in OPTIONS)

    def to_json(self):
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        try:
            values = json.loads(text)
        except ValueError as error:
            raise InputError("options are not valid JSON: %s" % error)
        if not isinstance(values, dict):
            raise InputError("options must be a JSON object")
        return cls(**values)

    def report_parameters(self):
        """The ``parameters`` entry of report.json: what the numbers depend on."""
        return {"mode": self.mode, "max_distance_mm": self.max_distance_mm,
                "cube_mm": self.cube_mm if self.mode == "paper" else None,
                "enhance_temporal_bone": self.enhance_tb if self.segment else None}

    def __eq__(self, other):
        return isinstance(other, RunOptions) and self.to_dict() == other.to_dict()

    def __repr__(self):
        return "RunOptions(%s)" % ", ".join("%s=%r" % kv for kv in sorted(self.to_dict().items()))


def unused(options):
    """One line per option given that ``options``' mode does not read: a cube other than the
    default outside mode paper (it was ignored without a word)."""
    if options.mode != "paper" and options.cube_mm != BY_NAME["cube_mm"].default:
        return ["--cube %g is read by mode paper only; ignored in mode %s"
                % (options.cube_mm, options.mode)]
    return []


def add_arguments(parser, names):
    """Add the command-line flags of the options ``names`` to an argparse parser (defaults and
    help from :data:`OPTIONS`); :func:`from_arguments` reads them back, checked."""
    for name in names:
        option = BY_NAME[name]
        if option.kind == "bool":
            parser.add_argument(option.flag, dest=name, action="store_true",
                                default=option.default, help=option.help)
        elif option.kind == "choice":
            parser.add_argument(option.flag, dest=name, choices=option.choices,
                                default=option.default,
                                help="%s (default %s)" % (option.help, option.default))
        else:
            parser.add_argument(option.flag, dest=name, metavar=option.metavar, type=float,
                                default=option.default,
                                help="%s (default %g)" % (option.help, option.default))


def from_arguments(args, **fixed):
    """RunOptions from parsed arguments (only the options the parser had) plus ``fixed``."""
    values = dict((o.name, getattr(args, o.name)) for o in OPTIONS if hasattr(args, o.name))
    values.update(fixed)
    try:
        return RunOptions(**values)
    except InputError as error:  # name the flag the user typed
        message = str(error)
        for option in OPTIONS:
            if option.flag and message.startswith(option.name + " "):
                message = option.flag + message[len(option.name):]
        raise InputError(message)
