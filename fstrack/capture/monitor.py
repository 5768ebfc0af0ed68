"""``auto_resource_monitoring``: machine statistics sampled in a background thread, reported as scalars.

:func:`start` is called by ``Task.init`` and :func:`stop` by ``Task._finish``. ``auto_resource_monitoring``:

* ``True`` (default): a :class:`ResourceMonitor` with ClearML's defaults; ``False`` (or ``{}``): none.
* a dict of :class:`ResourceMonitor` keyword arguments; ClearML's aliases are accepted: ``report_start_sec``
  / ``seconds_from_start`` for ``first_report_sec``, ``report_global_mem_used`` (True: report the machine's
  used memory) for ``not report_mem_used_per_process``.
* a class (usually a subclass of :class:`ResourceMonitor`): ``cls(task, **kwargs)`` is created and started.

What is reported (ClearML's titles and series names; values rounded to 3 decimals):

``:monitor:machine``
    ``cpu_usage`` (% of all CPUs, averaged over the period), ``memory_used_gb`` (GiB resident in this
    process and its child processes, or the machine's used memory with ``report_mem_used_per_process=False``),
    ``memory_free_gb`` (GiB available), ``disk_free_percent`` (of the file system holding the home folder),
    ``network_tx_mbs`` / ``network_rx_mbs`` and ``io_read_mbs`` / ``io_write_mbs`` (MiB/s over the period,
    when the machine exposes them), ``cpu_temperature`` (°C, when ``coretemp`` sensors exist).
``:monitor:gpu`` (NVML via ``pynvml`` / ``nvidia-ml-py``, when importable and a GPU is present)
    ``gpu_<i>_utilization`` (%), ``gpu_<i>_temperature`` (°C), ``gpu_<i>_mem_used_gb``,
    ``gpu_<i>_mem_free_gb`` (GiB), ``gpu_<i>_mem_usage`` (% used), ``gpu_<i>_power_draw`` (W), for the
    devices ``CUDA_VISIBLE_DEVICES`` / ``NVIDIA_VISIBLE_DEVICES`` name (indices or UUIDs; all when unset).
    ``<i>`` is the NVML index. Memory is the device's (not per process). A missing library, driver or GPU
    is noted once in the console log (a ``report`` row, not printed, written with the first report) and is
    not an error; three failed readings in a row turn GPU monitoring off (noted too).

Gauges (memory available, GPU readings) are sampled ``sample_frequency_per_sec`` times a second and
averaged; counters (CPU times, network and disk bytes) are read at the report boundaries, so their values
are exact averages over the period. Slow readings (the process tree's memory, temperatures, disk usage)
are taken once per report. Reports go out ``first_report_sec`` after start, then every
``report_frequency_sec``, at an iteration chosen as ClearML does:

* once the script has reported a scalar at an iteration above 0, at the script's last reported iteration
  (:func:`script_iteration`); a period in which the script's iteration did not advance reports nothing
  and its samples are averaged into the next report;
* if no iteration was reported within ``wait_for_first_iteration_to_start_sec`` (180 s), at the number of
  seconds since the monitor started; if the script starts reporting iterations before
  ``max_wait_for_first_iteration_to_start_sec`` (1800 s) the monitor goes back to iterations.

The sampling thread reads ``/proc``-backed counters through ``psutil``; one sample costs well under a
millisecond of CPU (``ResourceMonitor.sample_cpu_seconds / samples`` measures it), i.e. < 0.1 % of a core
at the default 2 samples per second.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fstrack import threads

if TYPE_CHECKING:  # pragma: no cover
    from fstrack.sdk.task import Task

__all__ = [
    "ResourceMonitor",
    "start",
    "stop",
    "get",
    "script_iteration",
    "set_iteration_timeout",
    "TITLE_MACHINE",
    "TITLE_GPU",
]

TITLE_MACHINE = ":monitor:machine"
TITLE_GPU = ":monitor:gpu"
_MONITOR_PREFIX = ":monitor:"
_GIB = float(1 << 30)
_MIB = float(1 << 20)
_ATTRIBUTE = "_fstrack_resource_monitor"


def _seconds(value: Any, what: str, *, positive: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or value < 0
        or (positive and value == 0)
        or math.isinf(value)
    ):
        raise ValueError(
            f"{what} must be a {'positive' if positive else 'non-negative'} number of seconds, got {value!r}"
        )
    return float(value)


def script_iteration(task: Task) -> int:
    """The last iteration the script itself reported a scalar at (as the script passed it, before the initial
    iteration offset), leaving out the monitor's own ``:monitor:`` scalars; 0 before any."""
    monitor = task.__dict__.get(_ATTRIBUTE)
    if isinstance(monitor, ResourceMonitor) and monitor._task is task:
        return monitor._script_iteration()
    return max(_peek_iteration(task, -1), _manifest_iteration(task))


def _manifest_iteration(task: Task) -> int:
    try:
        return max(0, int(task.get_last_iteration()) - int(task._initial_iteration or 0))
    except Exception:  # noqa: BLE001 - e.g. a manifest that cannot be loaded right now
        return 0


def _peek_iteration(task: Task, known: int) -> int:
    """The highest iteration among the newest buffered (not yet flushed) scalar rows of the script."""
    writer = task.__dict__.get("_fstrack_writer")
    if writer is None:
        return known
    tail = writer.scalars[-64:]  # one atomic slice; rows are 4 items, appended and removed whole
    series = writer.series
    for i in range(0, len(tail) - 3, 4):
        sid, iteration = tail[i], tail[i + 1]
        try:
            title = series[sid][0]
        except (IndexError, TypeError):
            continue
        if iteration > known and not title.startswith(_MONITOR_PREFIX):
            known = iteration
    return known


class _Nvml:
    """GPU readings through NVML (``pynvml``)."""

    def __init__(self) -> None:
        import pynvml  # ImportError: no GPU library

        self.nvml = pynvml
        pynvml.nvmlInit()  # NVMLError: no driver
        self.devices: list[tuple[int, Any]] = []
        try:
            count = pynvml.nvmlDeviceGetCount()
            visible = _visible_devices()
            devices = []
            for index in range(count):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                devices.append((index, handle, self._uuid(handle)))
            chosen = [(i, h) for i, h, uuid in devices if visible is None or str(i) in visible or uuid in visible]
            if visible and not chosen:
                chosen = [(i, h) for i, h, _ in devices]  # names we cannot match: report every device
            self.devices = chosen
        except Exception:
            self.close()
            raise

    def _uuid(self, handle: Any) -> str:
        try:
            uuid = self.nvml.nvmlDeviceGetUUID(handle)
            return uuid.decode() if isinstance(uuid, bytes) else str(uuid)
        except Exception:  # noqa: BLE001
            return ""

    def read(self) -> dict[str, float]:
        nvml = self.nvml
        stats: dict[str, float] = {}
        failures = 0
        for index, handle in self.devices:
            prefix = f"gpu_{index}_"
            readings = 0
            try:
                stats[prefix + "temperature"] = float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
                readings += 1
            except Exception:  # noqa: BLE001 - not supported on this device
                pass
            try:
                stats[prefix + "utilization"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
                readings += 1
            except Exception:  # noqa: BLE001
                pass
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                stats[prefix + "mem_used_gb"] = memory.used / _GIB
                stats[prefix + "mem_free_gb"] = (memory.total - memory.used) / _GIB
                if memory.total:
                    stats[prefix + "mem_usage"] = 100.0 * memory.used / memory.total
                readings += 1
            except Exception:  # noqa: BLE001
                pass
            try:
                stats[prefix + "power_draw"] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
                readings += 1
            except Exception:  # noqa: BLE001
                pass
            failures += readings == 0
        if self.devices and failures == len(self.devices):
            raise RuntimeError("no GPU reading succeeded")
        return stats

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def _visible_devices() -> set[str] | None:
    value = (os.environ.get("NVIDIA_VISIBLE_DEVICES") or os.environ.get("CUDA_VISIBLE_DEVICES") or "").strip()
    if not value or value == "all":
        return None
    if value in ("none", "void", "NoDevFiles"):
        return set()
    return {part.strip() for part in value.split(",") if part.strip()}


def _open_gpu() -> tuple[_Nvml | None, str | None]:
    """NVML, or why GPU monitoring is not available."""
    try:
        nvml = _Nvml()
    except ImportError:
        return None, "GPU monitoring is not available (no NVML library: pip install nvidia-ml-py)"
    except Exception as exc:  # noqa: BLE001 - NVMLError: no driver, no permission...
        return None, f"GPU monitoring is not available (NVML: {exc})"
    if not nvml.devices:
        nvml.close()
        return None, "GPU monitoring is not available (no GPU found)"
    return nvml, None


class ResourceMonitor:
    """Samples machine statistics in a daemon thread and reports them as ``:monitor:`` scalars of ``task``.

    The constructor's keywords are ClearML's (its ``ResourceMonitor``); the defaults of the last three
    come from ``Task.set_resource_monitor_iteration_timeout``.
    """

    _title_machine = TITLE_MACHINE
    _title_gpu = TITLE_GPU
    _first_report_sec_default = 30.0
    _wait_for_first_iteration_to_start_sec_default = 180.0
    _max_wait_for_first_iteration_to_start_sec_default = 1800.0
    _resource_monitor_instances: list[ResourceMonitor] = []

    def __init__(
        self,
        task: Task,
        sample_frequency_per_sec: float = 2.0,
        report_frequency_sec: float = 30.0,
        first_report_sec: float | None = None,
        wait_for_first_iteration_to_start_sec: float | None = None,
        max_wait_for_first_iteration_to_start_sec: float | None = None,
        report_mem_used_per_process: bool = True,
    ):
        cls = type(self)
        self._task = task
        self._sample_frequency = _seconds(sample_frequency_per_sec, "sample_frequency_per_sec", positive=True)
        self._report_frequency = _seconds(report_frequency_sec, "report_frequency_sec", positive=True)
        self._first_report_sec = _seconds(
            cls._first_report_sec_default if first_report_sec is None else first_report_sec, "first_report_sec"
        )
        self.wait_for_first_iteration = _seconds(
            cls._wait_for_first_iteration_to_start_sec_default
            if wait_for_first_iteration_to_start_sec is None
            else wait_for_first_iteration_to_start_sec,
            "wait_for_first_iteration_to_start_sec",
        )
        self.max_check_first_iteration = _seconds(
            cls._max_wait_for_first_iteration_to_start_sec_default
            if max_wait_for_first_iteration_to_start_sec is None
            else max_wait_for_first_iteration_to_start_sec,
            "max_wait_for_first_iteration_to_start_sec",
        )
        self._per_process = bool(report_mem_used_per_process)
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpu: _Nvml | None = None
        self._gpu_failures = 0
        self._mode: str | None = None  # None (undecided), "iteration" or "seconds"
        self._reported_iteration = -1
        self._max_seconds_iteration = -1
        self._peeked = -1
        self._sums: dict[str, float] = {}
        self._count = 0
        self._counters: dict[str, Any] | None = None
        self._counters_at = 0.0
        self._process: Any = None
        self._notes: list[str] = []
        #: Samples taken and the CPU seconds the sampling thread spent on them (for measuring its cost).
        self.samples = 0
        self.sample_cpu_seconds = 0.0
        self.reports = 0
        self.last_error: BaseException | None = None
        cls._resource_monitor_instances.append(self)

    def __repr__(self) -> str:
        return f"<fstrack ResourceMonitor of task {self._task.id} ({'running' if self.is_alive() else 'stopped'})>"

    # -- control -----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="fstrack-monitor", daemon=True)
        threads.start(self._thread)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop sampling (no report of the current partial period, as in ClearML)."""
        self._stop_event.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        try:
            type(self)._resource_monitor_instances.remove(self)
        except ValueError:
            pass

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def resource_monitor_instances(self) -> list[ResourceMonitor]:
        return type(self)._resource_monitor_instances

    # -- the thread ----------------------------------------------------------------------------------------
    def _run(self) -> None:
        period = 1.0 / self._sample_frequency
        # importing psutil (and pynvml) takes ~70 ms of CPU: not while Task.init is still running
        if self._stop_event.wait(min(period, self._first_report_sec)):
            return
        try:
            import psutil
        except ImportError:  # pragma: no cover - a declared dependency
            self._note("resource monitoring is not available (psutil is not installed)")
            return
        self._psutil = psutil
        self._gpu, why = _open_gpu()
        if why:
            self._notes.append(why)  # written with the first report (short runs have no monitor output at all)
        logger = self._task.get_logger()
        started = time.monotonic()
        self._counters, self._counters_at = self._read_counters(), started
        next_report = started + max(0.0, self._first_report_sec - min(period, self._first_report_sec))
        try:
            while not self._stop_event.wait(max(0.0, min(period, next_report - time.monotonic()))):
                cpu = time.thread_time()
                try:
                    self._sample()
                except Exception as exc:  # noqa: BLE001 - one bad reading is skipped
                    self.last_error = exc
                self.samples += 1
                self.sample_cpu_seconds += time.thread_time() - cpu
                now = time.monotonic()
                if now >= next_report:
                    try:
                        self._report(logger, int(round(now - started)), now)
                    except Exception as exc:  # noqa: BLE001 - e.g. a task closed meanwhile
                        self.last_error = exc
                    next_report = now + self._report_frequency
        finally:
            if self._gpu is not None:
                self._gpu.close()
                self._gpu = None

    def _note(self, message: str) -> None:
        try:
            self._task.get_logger().report_text(f"fstrack monitor: {message}", print_console=False)
        except Exception:  # noqa: BLE001
            pass

    def _add(self, key: str, value: float) -> None:
        self._sums[key] = self._sums.get(key, 0.0) + value

    def _sample(self) -> None:
        """Gauges, averaged over the period."""
        self._add("memory_free_gb", self._psutil.virtual_memory().available / _GIB)
        if self._gpu is not None:
            try:
                for key, value in self._gpu.read().items():
                    self._add(key, value)
                self._gpu_failures = 0
            except Exception as exc:  # noqa: BLE001
                self._gpu_failures += 1
                if self._gpu_failures >= 3:
                    self._note(f"GPU monitoring failed 3 times in a row, switching it off ({exc})")
                    self._gpu.close()
                    self._gpu = None
        self._count += 1
        self._peeked = _peek_iteration(self._task, self._peeked)

    def _read_counters(self) -> dict[str, Any]:
        psutil = self._psutil
        counters: dict[str, Any] = {}
        try:
            counters["cpu"] = psutil.cpu_times()
        except Exception:  # noqa: BLE001
            pass
        try:
            net = psutil.net_io_counters()
            if net is not None:
                counters["network_tx_mbs"] = net.bytes_sent
                counters["network_rx_mbs"] = net.bytes_recv
        except Exception:  # noqa: BLE001 - permissions, containers
            pass
        try:
            disk = psutil.disk_io_counters()
            if disk is not None:
                counters["io_read_mbs"] = disk.read_bytes
                counters["io_write_mbs"] = disk.write_bytes
        except Exception:  # noqa: BLE001
            pass
        return counters

    def _process_memory(self) -> float:
        psutil = self._psutil
        if not self._per_process:
            return float(psutil.virtual_memory().used)
        if self._process is None:
            self._process = psutil.Process()
        total = self._process.memory_info().rss
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return float(total)

    def _machine_stats(self, now: float) -> dict[str, float]:
        psutil = self._psutil
        stats: dict[str, float] = {}
        counters = self._read_counters()
        elapsed = max(1e-6, now - self._counters_at)
        before = self._counters or {}
        if "cpu" in counters and "cpu" in before:
            total_b, busy_b = _cpu_busy(before["cpu"])
            total_a, busy_a = _cpu_busy(counters["cpu"])
            if total_a > total_b:
                stats["cpu_usage"] = max(0.0, min(100.0, 100.0 * (busy_a - busy_b) / (total_a - total_b)))
        for key in ("network_tx_mbs", "network_rx_mbs", "io_read_mbs", "io_write_mbs"):
            if key in counters and key in before:
                stats[key] = max(0, counters[key] - before[key]) / _MIB / elapsed
        try:
            stats["memory_used_gb"] = self._process_memory() / _GIB
        except Exception:  # noqa: BLE001
            pass
        try:
            stats["disk_free_percent"] = 100.0 - psutil.disk_usage(os.path.expanduser("~")).percent
        except Exception:  # noqa: BLE001
            pass
        if hasattr(psutil, "sensors_temperatures"):
            try:
                sensors = psutil.sensors_temperatures()
                core = sensors.get("coretemp") or []
                if core:
                    stats["cpu_temperature"] = max(float(t.current) for t in core)
            except Exception:  # noqa: BLE001
                pass
        self._pending_counters = counters
        return stats

    def _script_iteration(self) -> int:
        manifest = _manifest_iteration(self._task)
        if manifest <= self._max_seconds_iteration:
            manifest = 0  # the stored last iteration may be one of our own seconds-from-start reports
        return max(0, self._peeked, _peek_iteration(self._task, -1), manifest)

    def _report(self, logger: Any, seconds: int, now: float) -> None:
        iteration = self._script_iteration()
        if self._mode is None:
            if iteration > 0:
                self._mode = "iteration"
            elif seconds >= self.wait_for_first_iteration:
                self._mode = "seconds"
                self._note(f"no iteration reported in {seconds} s: reporting machine statistics per seconds from start")
        elif self._mode == "seconds" and iteration > 0 and seconds <= self.max_check_first_iteration:
            self._mode = "iteration"
            self._note("iteration reporting detected: reporting machine statistics per iteration")
        if self._mode == "seconds":
            at = seconds
            self._max_seconds_iteration = max(self._max_seconds_iteration, seconds)
        elif self._mode == "iteration" and iteration > self._reported_iteration:
            at = iteration
        else:
            return  # keep averaging into the next report
        while self._notes:
            self._note(self._notes.pop(0))
        stats = self._machine_stats(now)
        if self._count:
            for key, total in self._sums.items():
                stats[key] = total / self._count
        for key, value in stats.items():
            if not math.isfinite(value):
                continue
            title = self._title_gpu if key.startswith("gpu_") else self._title_machine
            logger.report_scalar(title, key, round(value * 1000) / 1000.0, at)
        self._reported_iteration = max(self._reported_iteration, at) if self._mode == "iteration" else -1
        self._sums = {}
        self._count = 0
        self._counters, self._counters_at = self._pending_counters, now
        self.reports += 1


def _cpu_busy(times: Any) -> tuple[float, float]:
    """(total, busy) CPU seconds as psutil's ``cpu_percent`` counts them."""
    total = float(sum(times))
    if sys.platform.startswith("linux"):  # guest time is already counted in user/nice
        total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return total, total - idle


# -- Task glue -------------------------------------------------------------------------------------------------
_ALIASES = {"report_start_sec": "first_report_sec", "seconds_from_start": "first_report_sec"}


def _kwargs(option: Mapping[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for key, value in option.items():
        if not isinstance(key, str):
            raise TypeError(f"auto_resource_monitoring keys must be strings, got {key!r}")
        if key == "report_global_mem_used":
            kwargs["report_mem_used_per_process"] = not value
        else:
            kwargs[_ALIASES.get(key, key)] = value
    return kwargs


def start(task: Task, option: Any = None) -> ResourceMonitor | None:
    """Start monitoring for ``task`` per ``option`` (default: its ``settings.auto_resource_monitoring``)."""
    if option is None:
        option = (task._data.get("settings") or {}).get("auto_resource_monitoring", True)
    stop(task)
    if option is False or option is None or (isinstance(option, Mapping) and not option):
        return None
    if isinstance(option, type):
        monitor = option(task)
    elif isinstance(option, Mapping):
        try:
            monitor = ResourceMonitor(task, **_kwargs(option))
        except TypeError as exc:
            raise TypeError(
                f"auto_resource_monitoring: {exc} (keys: sample_frequency_per_sec, "
                "report_frequency_sec, first_report_sec, wait_for_first_iteration_to_start_sec, "
                "max_wait_for_first_iteration_to_start_sec, report_mem_used_per_process)"
            ) from None
    elif option is True:
        monitor = ResourceMonitor(task)
    else:
        raise TypeError(
            f"auto_resource_monitoring must be True, False, a dict of ResourceMonitor options or a "
            f"class, got {type(option).__name__} {option!r:.80}"
        )
    task.__dict__[_ATTRIBUTE] = monitor
    monitor.start()
    return monitor


def stop(task: Task) -> None:
    """Stop ``task``'s monitor (if any); it reports nothing after this returns."""
    monitor = task.__dict__.pop(_ATTRIBUTE, None)
    if monitor is not None:
        try:
            monitor.stop()
        except Exception:  # noqa: BLE001 - a user's monitor class must not break closing the task
            pass


def get(task: Task) -> ResourceMonitor | None:
    """``task``'s running monitor (``Task.resource_monitor``)."""
    return task.__dict__.get(_ATTRIBUTE)


def set_iteration_timeout(
    seconds_from_start: float = 30.0,
    wait_for_first_iteration_to_start_sec: float = 180.0,
    max_wait_for_first_iteration_to_start_sec: float = 1800.0,
) -> bool:
    """``Task.set_resource_monitor_iteration_timeout``: the defaults of monitors created from now on, and the
    settings of the running ones."""
    first = _seconds(seconds_from_start, "seconds_from_start")
    wait = _seconds(wait_for_first_iteration_to_start_sec, "wait_for_first_iteration_to_start_sec")
    most = _seconds(max_wait_for_first_iteration_to_start_sec, "max_wait_for_first_iteration_to_start_sec")
    for monitor in list(ResourceMonitor._resource_monitor_instances):
        monitor._first_report_sec = first
        monitor.wait_for_first_iteration = wait
        monitor.max_check_first_iteration = most
    ResourceMonitor._first_report_sec_default = first
    ResourceMonitor._wait_for_first_iteration_to_start_sec_default = wait
    ResourceMonitor._max_wait_for_first_iteration_to_start_sec_default = most
    return True
