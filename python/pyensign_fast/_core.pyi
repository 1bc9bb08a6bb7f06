"""Type stubs of the Rust extension module ``pyensign_fast._core``."""

from typing import Any, Callable, Dict, List, Optional, Tuple

from typing_extensions import final

__version__: str
FILE_DESCRIPTOR_SET: bytes

Waiter = Optional[Tuple["Notifier", Any]]

def _interpreter_exiting() -> int:
    """Called by ``pyensign_fast._bridge``'s ``atexit`` hook: from then on, a thread other
    than the exiting one that finishes a wait with the GIL released, or is about to run
    user code from the core, parks instead; threads whose wait had already ended, or that
    are inside a callback, are waited for first (GIL released, at most 2 s). Returns how
    many were still running when that wait ended."""

def _is_exiting() -> bool:
    """Whether ``_interpreter_exiting()`` was called."""

def _returning_threads() -> int:
    """Threads that ended a GIL-free wait and do not hold the GIL yet (tests)."""

def _calling_threads() -> int:
    """Threads inside ``Notifier.drain``'s callback loop (tests)."""

# -- log forwarding (rust/python/src/logs.rs; used by pyensign_fast.logs) -------------------
_LOGS_CAPACITY: int

def _logs_install(filter: str) -> bool:
    """Install the process-wide subscriber with an EnvFilter (or replace its filter)."""

def _logs_wait(timeout: float) -> bool:
    """Wait with the GIL released until records are queued; whether any are."""

def _logs_take() -> List[Tuple[float, int, str, str, Optional[str], int, str]]:
    """Every queued record: (created, levelno, target, message, file, line, thread)."""

def _logs_dropped() -> int:
    """Records dropped because the queue was full."""

def _logs_after_fork() -> None: ...
def _logs_emit(n: int, message: str) -> None:
    """Emit ``n`` WARN records holding the GIL (tests fill the queue with it)."""

def _event_born(event: Any) -> None:
    """Untracks a fresh ``Event`` from the cyclic GC when it cannot be in a cycle."""

def _fast_event_init(
    cls: type, slow: Any, mimes: Dict[Any, int], type_cache: Dict[Any, Any], initialized: Any
) -> Any:
    """``Event.__init__`` as a C-level method for the common arguments, or ``None``."""

def gc_track(obj: Any) -> None:
    """Track ``obj`` with the cyclic GC again (no-op if tracked or not a GC object)."""

def _direct_event_slots() -> bool:
    """Whether publishing reads ``Event`` slots directly (their offsets were probed)."""

@final
class Notifier:
    """A completion queue with a pollable file descriptor (one per event loop)."""

    def __new__(cls) -> Notifier: ...
    def fileno(self) -> int:
        """The descriptor to register with ``loop.add_reader``."""
    def drain(self) -> List[Tuple[int, Any, Any]]:
        """Resolve futures and run callbacks for every queued item; returns what is left
        for Python: ``(3, batch_id, slot)`` waiter wake-ups, ``(6, coroutine, yielded)``
        suspended coroutine callbacks, ``(7, exception, None)`` callback errors to log,
        ``(8, awaitable, None)`` awaitables returned by callbacks."""
    def wait(self, timeout: float) -> bool:
        """Block (GIL released) until items are pending or ``timeout`` passes."""
    def close(self) -> None:
        """Wakes every thread in ``wait()`` and makes later waits return at once."""
    def _push_outcomes(
        self,
        n: int,
        on_ack: Optional[Callable[[Any], Any]] = None,
        on_nack: Optional[Callable[[Any], Any]] = None,
        nack: bool = False,
    ) -> None:
        """Queue ``n`` synthetic acks (or nacks) for benchmarks and tests."""

@final
class PublishBatch:
    """Outcomes of the events of one ``publish()`` call."""

    @property
    def id(self) -> int: ...
    def __len__(self) -> int: ...
    def state(self, i: int) -> int: ...
    def local_id(self, i: int) -> Optional[bytes]: ...
    def committed(self, i: int) -> Optional[Tuple[int, int]]: ...
    def nack(self, i: int) -> Optional[Tuple[int, str]]: ...
    def add_waiter(self, i: int) -> bool: ...

@final
class Client:
    """A connection to an Ensign server (lazy)."""

    def __new__(
        cls,
        endpoint: str,
        insecure: bool = False,
        auth_url: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        reconnect_tick: float = 0.75,
        reconnect_timeout: float = 300.0,
        max_inflight_events: int = 8192,
        max_inflight_bytes: int = 67108864,
        user_agent: Optional[str] = None,
        stream_client_id: Optional[str] = None,
    ) -> Client: ...
    def publish(
        self,
        topic_id: bytes,
        events: Any,
        start: int,
        batch: Optional[PublishBatch],
        on_ack: Optional[Callable[[Any], Any]] = None,
        on_nack: Optional[Callable[[Any], Any]] = None,
        notifier: Optional[Notifier] = None,
        whole: bool = False,
    ) -> Tuple[PublishBatch, int]: ...
    def resolve_topic(self, topic: str, waiter: Waiter) -> Any: ...
    def wait_for_room(self, waiter: Waiter) -> Any: ...
    def flush(self, timeout: float, waiter: Waiter) -> Any: ...
    def close(self, timeout: float, waiter: Waiter) -> Any: ...
    def pending(self) -> int: ...
    def stats(self) -> Dict[str, int]: ...
    def stream_topics(self) -> Dict[str, bytes]: ...
    def status(self, waiter: Waiter) -> Any: ...
    def create_topic(self, name: str, waiter: Waiter) -> Any: ...

@final
class LocalServer:
    """A local Ensign server running in this process on its own runtime."""

    def __new__(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: Optional[str] = None,
        auth: bool = False,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        http_port: int = 0,
        worker_threads: int = 2,
        access_ttl: Optional[int] = None,
        refresh_ttl: Optional[int] = None,
        metrics_addr: Optional[str] = None,
        repair: bool = False,
    ) -> LocalServer: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def auth_url(self) -> Optional[str]: ...
    @property
    def client_id(self) -> Optional[str]: ...
    @property
    def client_secret(self) -> Optional[str]: ...
    @property
    def project_id(self) -> str: ...
    @property
    def metrics_url(self) -> Optional[str]: ...
    @property
    def recovery(self) -> Dict[str, Any]: ...
    @property
    def running(self) -> bool: ...
    def stop(self) -> None: ...

# -- topic and project administration (rust/python/src/admin.rs) -------------------------
# Each takes the client first and, like every async op, a trailing waiter.

def list_topics(client: Client, waiter: Waiter) -> Any: ...
def topic_names(client: Client, waiter: Waiter) -> Any: ...
def find_topic_id(client: Client, name: str, waiter: Waiter) -> Any: ...
def topic_exists(client: Client, name: str, topic_id: str, waiter: Waiter) -> Any: ...
def retrieve_topic(client: Client, topic_id: bytes, waiter: Waiter) -> Any: ...
def delete_topic(client: Client, topic_id: str, operation: int, waiter: Waiter) -> Any: ...
def set_topic_policy(
    client: Client,
    topic_id: str,
    dedup: Optional[Tuple[int, int, List[str], List[str], bool]],
    sharding: int,
    waiter: Waiter,
) -> Any: ...
def project_info(client: Client, topic_ids: List[bytes], waiter: Waiter) -> Any: ...
def topic_name_hash(name: str) -> str: ...

# -- subscribe and EnSQL (rust/python/src/subscribe.rs, rust/python/src/query.rs) ---------
# Pages of received events come back as lists of ``events.Event`` built by
# ``_receive.received_batch(rows, sub)``; ``sub`` is the events' ack target (an object with
# ``ack(rlid)``/``nack(rlid, code)``, optionally ``event_class``), ``None`` for query
# results. ``None`` instead of a list means the stream has ended. Async ops take a
# trailing waiter; ``None`` blocks with the GIL released.

@final
class Subscription:
    """One subscribe stream of its own, with a bounded prefetch buffer."""

    def __new__(
        cls,
        client: Client,
        topics: List[str],
        query: Optional[str] = None,
        params: Optional[List[Tuple[str, str, Any]]] = None,
        group: Optional[bytes] = None,
        buffer_events: int = 0,
        buffer_bytes: int = 0,
    ) -> Subscription: ...
    def ready(self, waiter: Waiter) -> Any: ...
    def wait_connected(self, n: int, waiter: Waiter) -> Any: ...
    def poll(self, max: int, sub: Any, acks: Optional[List[Any]] = None) -> Optional[List[Any]]: ...
    def next_batch(self, max: int, sub: Any, waiter: Waiter) -> Any: ...
    def wait(self, waiter: Waiter) -> Any: ...
    def ack(self, rlid: bytes) -> None: ...
    def nack(self, rlid: bytes, code: int) -> None: ...
    def send(self, acks: List[Any]) -> None: ...
    def cancel(self) -> None: ...
    def close(self, waiter: Waiter) -> Any: ...
    @property
    def topics(self) -> Optional[Dict[str, bytes]]: ...
    @property
    def connections(self) -> int: ...
    @property
    def skipped(self) -> int: ...
    @property
    def finished(self) -> bool: ...

@final
class QueryCursor:
    """The prefetched results of one EnSQL query."""

    def poll(self, max: int) -> Optional[List[Any]]: ...
    def next_batch(self, max: int, waiter: Waiter) -> Any: ...
    def wait(self, waiter: Waiter) -> Any: ...
    def close(self) -> None: ...
    @property
    def skipped(self) -> int: ...

def query(
    client: Client,
    sql: str,
    params: Optional[List[Tuple[str, str, Any]]],
    include_duplicates: bool,
    waiter: Waiter,
) -> Any: ...
def explain(
    client: Client,
    sql: str,
    params: Optional[List[Tuple[str, str, Any]]],
    include_duplicates: bool,
    waiter: Waiter,
) -> Any: ...
