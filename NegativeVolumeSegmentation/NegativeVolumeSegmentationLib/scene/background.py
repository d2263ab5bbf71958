"""Background run: the measurement in a separate Python process, so Slicer's GUI never freezes
and Cancel works. Qt-free; the caller polls (the module's panel with a qt.QTimer, a script or a
test with :meth:`BackgroundRun.wait`).

:meth:`BackgroundRun.start` checks the input, writes the image the run measures (the CT, or the
condyle / temporal-bone label map with segment=False, the CT beside it when a volume is selected)
into a new temporary folder and starts

    <python> -m NegativeVolumeSegmentationLib.cli compute INPUT -o OUT --options JSON
             --progress-file F --case NAME --parent-pid PID --temp-dir DIR [--ct CT]
             [--model-dir DIR]

(``<python>``: Slicer's ``PythonSlicer`` inside Slicer, ``sys.executable`` elsewhere). The child
runs :func:`..pipeline.compute` with the same :class:`..options.RunOptions` as the in-process
Logic and writes only what the scene needs (report, labels, condyle meshes); :meth:`finish`
reads it back with :func:`..io.results_folder.read_case` into the same
:class:`..case_result.CaseResult` and writes the scene through
:func:`.results_writer.write_results`, so both routes give the same nodes and numbers.
:meth:`poll` follows the progress file and the process; :meth:`cancel` ends the whole process
tree (:mod:`.process_tree`: the launcher and its ``python-real`` child) and removes the
temporary folder, leaving the scene as it was; should Slicer itself end (a crash), the child
stops and removes that folder (``--parent-pid``, :mod:`..cli.parent_watch`). A run that fails
ends in state "failed" with a one-line ``error`` (the command line's own message), the scene
and the input untouched.
"""

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time

import SimpleITK as sitk

from ..cli.parent_watch import temp_prefix
from ..errors import InputError, ModelError, one_line
from ..options import RunOptions
from . import logic
from .process_tree import kill_process_tree, popen_kwargs
from .progress import stage_progress
from .results_writer import removed_node, write_results

PACKAGE = "NegativeVolumeSegmentationLib"
LIB_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

READY = "ready"
RUNNING = "running"
COMPLETED = "completed"   # the process finished; outputs wait for finish()
FINISHED = "finished"     # outputs loaded into the scene
FAILED = "failed"
CANCELLED = "cancelled"

INPUT_FILE = "input.nrrd"
CT_FILE = "ct.nrrd"  # with segment=False: the CT the segments belong to
LOGGED_CHARS = 20000   # of a failed background process's stderr, to the log (a traceback)
PROGRESS_FILE = "progress.jsonl"


def default_python_executable():
    """The Python to run the command line with: Slicer's ``PythonSlicer`` (same Python, same
    packages, torch included) inside Slicer; ``sys.executable`` in a plain Python.

    InputError when none is found (the Slicer application's own executable is never used: it
    would start another Slicer).
    """
    import slicer

    suffix = ".exe" if os.name == "nt" else ""
    if hasattr(slicer, "app"):
        found = shutil.which("PythonSlicer")
        if found:
            return found
    beside = os.path.join(os.path.dirname(sys.executable), "PythonSlicer" + suffix)
    if os.path.isfile(beside):
        return beside
    if "python" in os.path.basename(sys.executable).lower():
        return sys.executable
    raise InputError("no Python executable found for the background run (PythonSlicer is not on "
                     "the PATH and %s is not a Python)" % sys.executable)


def _fingerprint(image):
    """SHA-1 of a label image's voxels and geometry: the segments a run measures."""
    digest = hashlib.sha1(sitk.GetArrayViewFromImage(image).tobytes())
    digest.update(repr((image.GetSize(), image.GetOrigin(), image.GetSpacing(),
                        image.GetDirection())).encode("ascii"))
    return digest.hexdigest()


class BackgroundRun(object):
    """One measurement in a separate process; see the module docstring.

    Args:
        inputVolumeNode: the CT volume node (may be None with segment=False).
        outputSegmentationNode: receives the segments (None: created when the results load).
        python_executable: default :func:`default_python_executable`.
        env: environment of the process (default: this one), with this library put on
            PYTHONPATH.
        table_node, model_dir: as for ``MeasurementLogic.process``.
        temp_root: where the temporary folder is made (default: the system's).
        **options: :class:`..options.RunOptions` values.

    Attributes: ``state`` (ready, running, completed, finished, failed, cancelled),
    ``fraction`` (0-1), ``stage`` (stage name), ``message`` (text for the panel), ``error``
    (one line, when failed), ``results`` (after :meth:`finish`), ``temp_dir``, ``process``.
    """

    def __init__(self, inputVolumeNode, outputSegmentationNode=None, python_executable=None,
                 env=None, table_node=None, model_dir=None, temp_root=None, **options):
        self.options = RunOptions.from_values(options)
        self.input_volume = inputVolumeNode
        self.output_segmentation = outputSegmentationNode
        self.table_node = table_node
        self.model_dir = model_dir
        self.python = python_executable
        self.env = env
        self.temp_root = temp_root
        self.state = READY
        self.fraction = 0.0
        self.stage = None
        self.message = ""
        self.error = None
        self.results = None
        self.temp_dir = None
        self.process = None
        self._logs = None
        self._progress_offset = 0
        self._started = None
        self._input = None  # (temporary input path, the name users know it by)
        self._measured = None  # fingerprint of the given segments measured (segment=False)
        self._names = []    # (temporary file, the node name users know it by), for messages

    # ------------------------------------------------------------------ starting
    def start(self):
        """Check the input, write it to a temporary folder and start the process.

        Raises InputError (one line; state "failed", nothing started, nothing left behind) for
        input that cannot run: no CT, a label map or a single slice, missing segments.
        """
        if self.state != READY:
            raise RuntimeError("a BackgroundRun starts once (state %s)" % self.state)
        self._started = time.perf_counter()
        try:
            image, name, ct = logic.source_image(self.options, self.input_volume,
                                                 self.output_segmentation)
            if not self.options.segment:
                self._measured = _fingerprint(image)
            python = self.python or default_python_executable()
            self.temp_dir = tempfile.mkdtemp(prefix=temp_prefix(os.getpid()),
                                             dir=self.temp_root)
            input_path = os.path.join(self.temp_dir, INPUT_FILE)
            sitk.WriteImage(image, input_path)
            ct_path = None
            if ct is not None:
                ct_path = os.path.join(self.temp_dir, CT_FILE)
                sitk.WriteImage(ct, ct_path)
                self._names.append((ct_path, self.input_volume.GetName()))
            del image, ct
            self._input = (input_path, name)
            self._names.insert(0, self._input)
            self._set_stage("start")
            self._launch(self.command(python, input_path, ct_path))
        except Exception as error:
            self._fail(error)
            raise InputError(self.error)
        self.state = RUNNING
        return self

    def command(self, python, input_path, ct_path=None):
        """The child's command line (argv list)."""
        argv = [python, "-m", PACKAGE + ".cli", "compute", input_path,
                "-o", os.path.join(self.temp_dir, "out"), "--options", self.options.to_json(),
                "--progress-file", os.path.join(self.temp_dir, PROGRESS_FILE),
                "--case=" + self._input[1],   # "=": a node named "-CT" is not an option
                "--parent-pid=%d" % os.getpid(), "--temp-dir=" + self.temp_dir]
        if ct_path:
            argv += ["--ct", ct_path]
        if self.model_dir:
            argv += ["--model-dir=" + self.model_dir]
        return argv

    def _environment(self):
        env = dict(os.environ if self.env is None else self.env)
        paths = [LIB_PARENT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONUNBUFFERED"] = "1"
        # bad input still ends in one "nvseg: ..." line; an internal error prints its
        # traceback, which _error_line hands to the log (the panel shows one line)
        env["NVSEG_DEBUG"] = "1"
        return env

    def _launch(self, argv):
        stdout = open(os.path.join(self.temp_dir, "stdout.txt"), "wb")
        stderr = open(os.path.join(self.temp_dir, "stderr.txt"), "w+b")
        self._logs = (stdout, stderr)
        self.process = subprocess.Popen(argv, stdout=stdout, stderr=stderr,
                                        stdin=subprocess.DEVNULL, cwd=LIB_PARENT,
                                        env=self._environment(), **popen_kwargs())

    # ------------------------------------------------------------------ following
    def _set_stage(self, stage):
        fraction, text = stage_progress(stage, self.options.segment)
        self.stage = stage
        if fraction is not None:
            self.fraction = max(self.fraction, fraction)
        self.message = text

    def _read_progress(self):
        if self.temp_dir is None:
            return
        path = os.path.join(self.temp_dir, PROGRESS_FILE)
        if not os.path.isfile(path):
            return
        with open(path, "rb") as handle:  # bytes: any the child writes are read, never fail
            handle.seek(self._progress_offset)
            chunk = handle.read()
        complete = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits
        self._progress_offset += len(complete)
        for line in complete.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("stage"):
                self._set_stage(record["stage"])

    def poll(self):
        """Advance: read progress, notice the end of the process. Returns the state (running,
        completed, failed; unchanged once ended)."""
        if self.state != RUNNING:
            return self.state
        self._read_progress()
        code = self.process.poll()
        if code is None:
            return RUNNING
        self._read_progress()
        if code != 0:
            self._fail(self._error_line(code))
            return FAILED
        self._close_logs()
        self.state = COMPLETED
        self._set_stage("load")
        return COMPLETED

    def _error_line(self, code):
        """The command line's one-line message (``nvseg: ...``), else the last line of stderr."""
        text = ""
        if self._logs is not None:
            stderr = self._logs[1]
            stderr.flush()
            stderr.seek(0)
            text = stderr.read().decode("utf-8", errors="replace")  # any bytes the child wrote
        lines = [self.named(line.strip()) for line in text.splitlines() if line.strip()]
        for line in reversed(lines):
            if line.startswith("nvseg: "):
                return line[len("nvseg: "):]
        if code < 0:
            return "the background process was ended by signal %d" % -code
        if lines:   # an internal error: its traceback to the log (Slicer's Python console)
            logging.getLogger(__name__).error("the background process failed (exit status %d):"
                                              "\n%s", code, self.named(text[-LOGGED_CHARS:]))
            return ("internal error in the background process (exit status %d): %s (its "
                    "traceback is in the log)" % (code, lines[-1]))
        return "the background process failed with exit status %d" % code

    def named(self, value):
        """``value`` (a message, or a report's lists / dicts of them) with the temporary files
        named by their nodes (the CT volume's name, not ``.../nvseg-slicer-xxxx/ct.nrrd``)."""
        if isinstance(value, str):
            for path, name in self._names:
                value = value.replace(path, name)
            return value
        if isinstance(value, (list, tuple)):
            return type(value)(self.named(item) for item in value)
        if isinstance(value, dict):
            return dict((key, self.named(item)) for key, item in value.items())
        return value

    # ------------------------------------------------------------------ ending
    def cancel(self):
        """Stop the process and all its descendants (killed at once) and remove the temporary
        folder; the scene is not touched. Returns the seconds it took until all were gone."""
        start = time.perf_counter()
        if self.state in (FINISHED, FAILED, CANCELLED):
            return 0.0
        self._kill()
        self._cleanup()
        self.state = CANCELLED
        self.message = "Cancelled"
        return time.perf_counter() - start

    def _kill(self):
        # also when the process itself has ended: PythonSlicer (a launcher) can exit while its
        # python-real child still computes
        if self.process is not None:
            kill_process_tree(self.process)

    def finish(self):
        """Load the outputs into the scene (through :func:`.results_writer.write_results`) and
        clean up.

        Returns the results dict (as ``MeasurementLogic.process`` returns; its messages name
        the nodes, not the temporary files). Raises InputError with the one-line error when the
        run failed or was cancelled, or when the CT or the output segmentation was removed from
        the scene meanwhile (then nothing is written).
        """
        from ..io.results_folder import read_case

        if self.state == FINISHED:
            return self.results
        if self.state == RUNNING:
            raise RuntimeError("the background run is still running: poll() until it ends")
        if self.state != COMPLETED:
            raise InputError(self.error or "the background run was %s" % self.state)
        try:
            gone = removed_node(self.input_volume, self.output_segmentation)
            if gone:  # deleted in the scene while the child computed
                raise InputError(gone)
            if self._measured is not None and _fingerprint(logic.source_image(
                    self.options, self.input_volume, self.output_segmentation)[0]) != \
                    self._measured:   # the numbers would not be those of the segments shown
                raise InputError("the condyle / temporal-bone segments of %r were edited during "
                                 "the run; nothing written: Apply again to measure them"
                                 % self.output_segmentation.GetName())
            result = read_case(os.path.join(self.temp_dir, "out"))  # all read before writing
            result.report.update(self.named(result.report))  # warnings, cautions, reasons
            logic.add_inputs(result.report, self.input_volume, self.options,
                             self.output_segmentation)
            results = write_results(result, self.input_volume, self.output_segmentation,
                                    self.options, self.table_node)
        except Exception as error:
            self._fail(error)
            raise InputError(self.error)
        timings = dict(results.get("timings_s") or {})
        timings["total"] = time.perf_counter() - self._started
        results["timings_s"] = timings
        self._cleanup()
        self.results = results
        self.state = FINISHED
        self._set_stage("done")
        return results

    def wait(self, timeout_s=None, interval_s=0.2):
        """Poll until the run ends, then load the results (for scripts and tests).

        Returns the results dict; raises InputError with the one-line error when the run
        failed, was cancelled, or took longer than ``timeout_s`` (then it is cancelled).
        """
        if self.state == READY:
            self.start()
        deadline = None if timeout_s is None else time.perf_counter() + timeout_s
        while self.poll() == RUNNING:
            if deadline is not None and time.perf_counter() > deadline:
                self.cancel()
                raise InputError("the background run took longer than %g s and was cancelled"
                                 % timeout_s)
            time.sleep(interval_s)
        return self.finish()

    def _fail(self, error):
        """End as failed with a one-line error (a message, or an exception: InputError and
        ModelError as they are, anything else with its type); kill, clean up."""
        if isinstance(error, str):
            message = error
        elif isinstance(error, (InputError, ModelError)):
            message = str(error)
        else:   # a bug: its traceback to the log (Slicer's Python console), one line shown
            logging.getLogger(__name__).error("the background run failed", exc_info=(
                type(error), error, error.__traceback__))
            message = "internal error: %s: %s (its traceback is in the log)" % (
                type(error).__name__, error)
        self.error = one_line(message) or "the background run failed"
        self.message = "Failed: " + self.error
        self._kill()
        self._cleanup()
        self.state = FAILED

    def _close_logs(self):
        if self._logs is not None:
            for handle in self._logs:
                try:
                    handle.close()
                except OSError:
                    pass
            self._logs = None

    def _cleanup(self):
        self._close_logs()
        if self.temp_dir is not None and os.path.isdir(self.temp_dir):
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.temp_dir = None
