"""Background run: the measurement in a separate Python process, so Slicer's GUI never freezes
and Cancel works. Qt-free; the caller polls (the module's panel with a qt.QTimer, a script or a
test with :meth:`BackgroundRun.wait`).

:meth:`BackgroundRun.start` checks the input, writes it to a new temporary folder and starts the
library's own command line there, ``<python> -m NegativeVolumeSegmentationLib.cli ...``
(``<python>``: Slicer's ``PythonSlicer`` inside Slicer, ``sys.executable`` elsewhere):

- segment=True: ``run ct.nrrd -o out --device D --max-distance MM --progress-file F`` (the whole
  pipeline with the bundled models); in paper mode then ``negative-volume
  out/ct/labels.nii.gz --mode paper ...`` re-measures the segmented joints;
- segment=False: ``negative-volume labels.nrrd --mode M --max-distance MM`` on the condyle and
  temporal-bone segments exported from the output segmentation.

:meth:`poll` follows the progress (fraction and stage text, from the progress file) and the
process; :meth:`cancel` kills the process and removes the temporary folder, leaving the scene as
it was; :meth:`finish` reads the outputs and writes them into the scene through
:func:`slicer_logic.write_results`, the same code the in-process Logic uses, then removes the
temporary folder. A run that fails ends in state "failed" with a one-line ``error`` (the
command line's own message), the scene and the input untouched.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import SimpleITK as sitk
import vtk

from .. import labels as L
from . import logic as slicer_logic
from ..errors import InputError, ModelError

PACKAGE = "NegativeVolumeSegmentationLib"
LIB_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

READY = "ready"
RUNNING = "running"
COMPLETED = "completed"   # the process finished; outputs wait for finish()
FINISHED = "finished"     # outputs loaded into the scene
FAILED = "failed"
CANCELLED = "cancelled"

CT_FILE = "ct.nrrd"
LABELS_FILE = "labels.nrrd"
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


def _one_line(text):
    return " ".join(str(text).split())


def read_mesh(path):
    """vtkPolyData of a legacy .vtk mesh file (LPS mm, point data kept)."""
    reader = vtk.vtkPolyDataReader()
    reader.SetFileName(path)
    reader.ReadAllScalarsOn()
    reader.ReadAllVectorsOn()
    reader.ReadAllNormalsOn()
    reader.Update()
    mesh = vtk.vtkPolyData()
    mesh.DeepCopy(reader.GetOutput())
    return mesh


def read_outputs(folder):
    """(report dict, label image, meshes {side: {"condyle": polydata}}) of an output folder of
    ``nvseg run`` (one case) or ``nvseg negative-volume``."""
    with open(os.path.join(folder, "report.json")) as handle:
        report = json.load(handle)
    labels = sitk.ReadImage(os.path.join(folder, "labels.nii.gz"))
    meshes = {}
    for side in L.SIDES:
        path = os.path.join(folder, "%s_condyle.vtk" % side)
        if os.path.isfile(path):
            meshes[side] = {"condyle": read_mesh(path)}
    return report, labels, meshes


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
        **options: :data:`slicer_logic.DEFAULT_OPTIONS`.

    Attributes: ``state`` (ready, running, completed, finished, failed, cancelled),
    ``fraction`` (0-1), ``stage`` (stage name), ``message`` (text for the panel), ``error``
    (one line, when failed), ``results`` (after :meth:`finish`), ``temp_dir``, ``process``.
    """

    def __init__(self, inputVolumeNode, outputSegmentationNode=None, python_executable=None,
                 env=None, table_node=None, model_dir=None, temp_root=None, **options):
        self.options = slicer_logic.normalize_options(**options)
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
        self._steps = []
        self._step = 0
        self._logs = None
        self._progress_offset = 0
        self._started = None
        self._input = None  # (temporary input path, the name users know it by)

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
            segment = self.options["segment"]
            if segment:
                image, _name = slicer_logic.input_image(self.input_volume)
            else:
                image = slicer_logic.existing_segments(self.output_segmentation,
                                                       self.input_volume)
            python = self.python or default_python_executable()
            self.temp_dir = tempfile.mkdtemp(prefix="nvseg-slicer-", dir=self.temp_root)
            input_path = os.path.join(self.temp_dir, CT_FILE if segment else LABELS_FILE)
            sitk.WriteImage(image, input_path)
            source = self.input_volume if segment else self.output_segmentation
            self._input = (input_path, source.GetName() if source is not None else "input")
            self._steps = self._commands(python, input_path)
            self._set_stage("start")
            self._launch_next()
        except Exception as error:
            self._fail(error)
            raise InputError(self.error)
        self.state = RUNNING
        return self

    def _commands(self, python, input_path):
        """[(argv, stage shown while it runs (None: from its progress file), text added)]."""
        o = self.options
        base = [python, "-m", PACKAGE + ".cli"]
        out = os.path.join(self.temp_dir, "out")
        distance = ["--max-distance", repr(o["max_distance_mm"])]
        if not o["segment"]:
            return [(base + ["negative-volume", input_path, "-o", out, "--mode", o["mode"],
                             "--cube", repr(o["cube_mm"])] + distance, "geometry", "")]
        run = base + ["run", input_path, "-o", out, "--device", o["device"],
                      "--progress-file", os.path.join(self.temp_dir, PROGRESS_FILE)] + distance
        if o["enhance_tb"]:
            run.append("--enhance-tb")
        if self.model_dir:
            run += ["--model-dir", self.model_dir]
        steps = [(run, None, "")]
        if o["mode"] != "confined":
            labels = os.path.join(out, self._case(), "labels.nii.gz")
            steps.append((base + ["negative-volume", labels, "-o", os.path.join(self.temp_dir,
                                                                                "remeasured"),
                                  "--mode", o["mode"], "--cube", repr(o["cube_mm"])] + distance,
                          "geometry", " (%s mode)" % o["mode"]))
        return steps

    @staticmethod
    def _case():
        from ..io.ct import case_name

        return case_name(CT_FILE)

    def _environment(self):
        env = dict(os.environ if self.env is None else self.env)
        paths = [LIB_PARENT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("NVSEG_DEBUG", None)  # errors must come as one line
        return env

    def _launch_next(self):
        argv, stage, suffix = self._steps.pop(0)
        if stage is not None:
            self._set_stage(stage)
            self.message += suffix
        self._close_logs()
        self._step += 1
        stdout = open(os.path.join(self.temp_dir, "stdout-%d.txt" % self._step), "w")
        stderr = open(os.path.join(self.temp_dir, "stderr-%d.txt" % self._step), "w+")
        self._logs = (stdout, stderr)
        kwargs = {}
        if os.name == "nt":
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        else:
            kwargs["start_new_session"] = True  # its own process group: cancel ends all of it
        self.process = subprocess.Popen(argv, stdout=stdout, stderr=stderr,
                                        stdin=subprocess.DEVNULL, cwd=LIB_PARENT,
                                        env=self._environment(), **kwargs)

    # ------------------------------------------------------------------ following
    def _set_stage(self, stage):
        fraction, text = slicer_logic.stage_progress(stage, self.options["segment"])
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
        with open(path) as handle:
            handle.seek(self._progress_offset)
            chunk = handle.read()
        complete = chunk[:chunk.rfind("\n") + 1]  # a line still being written waits
        self._progress_offset += len(complete)
        for line in complete.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("stage"):
                self._set_stage(record["stage"])

    def poll(self):
        """Advance: read progress, notice the end of a step, start the next. Returns the state
        (running, completed, failed; unchanged once ended)."""
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
        if self._steps:
            try:
                self._launch_next()
            except Exception as error:
                self._fail(error)
                return FAILED
            return RUNNING
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
            text = stderr.read()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if self._input is not None:  # name the node, not the temporary copy
            lines = [line.replace(self._input[0], self._input[1]) for line in lines]
        for line in reversed(lines):
            if line.startswith("nvseg: "):
                return line[len("nvseg: "):]
        if code < 0:
            return "the background process was ended by signal %d" % -code
        if lines:
            return "the background process failed (exit status %d): %s" % (code, lines[-1])
        return "the background process failed with exit status %d" % code

    def is_running(self):
        return self.state == RUNNING

    # ------------------------------------------------------------------ ending
    def cancel(self):
        """Stop the process (killed at once) and remove the temporary folder; the scene is not
        touched. Returns the seconds it took until the process was gone."""
        start = time.perf_counter()
        if self.state in (FINISHED, FAILED, CANCELLED):
            return 0.0
        self._kill()
        self._cleanup()
        self.state = CANCELLED
        self.message = "Cancelled"
        return time.perf_counter() - start

    def _kill(self):
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            if os.name != "nt":
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        except (OSError, ProcessLookupError):
            process.kill()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def finish(self):
        """Load the outputs into the scene (through slicer_logic.write_results) and clean up.

        Returns the results dict (as ``MeasurementLogic.process`` returns).
        Raises InputError with the one-line error when the run failed or was cancelled.
        """
        if self.state == FINISHED:
            return self.results
        if self.state == RUNNING:
            raise RuntimeError("the background run is still running: poll() until it ends")
        if self.state != COMPLETED:
            raise InputError(self.error or "the background run was %s" % self.state)
        try:
            computed = self._read()  # read everything before writing anything
            results = slicer_logic.write_results(computed, self.input_volume,
                                                 self.output_segmentation, self.options,
                                                 self.table_node)
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

    def _read(self):
        out = os.path.join(self.temp_dir, "out")
        segment = self.options["segment"]
        if not segment:
            report, labels, meshes = read_outputs(out)
            values = slicer_logic.NV_VALUES
        else:
            report, labels, meshes = read_outputs(os.path.join(out, self._case()))
            if self.options["mode"] != "confined":
                remeasured, labels, meshes = read_outputs(os.path.join(self.temp_dir,
                                                                       "remeasured"))
                report = slicer_logic.merge_reports(report, remeasured)
            values = slicer_logic.ALL_VALUES
        report["inputs"] = {"ct_volume": (self.input_volume.GetName()
                                          if self.input_volume is not None else None),
                            "segmented": segment}
        return slicer_logic.Computed(report, labels, meshes, values)

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
        else:
            message = "%s: %s" % (type(error).__name__, error)
        self.error = _one_line(message) or "the background run failed"
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
