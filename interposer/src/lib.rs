//! `libreplay_interposer.so`: preloaded by `replay record` (`LD_PRELOAD`), it records every call
//! of a program to `malloc`, `calloc`, `realloc`, `reallocarray`, `free`, `memalign`,
//! `aligned_alloc`, `posix_memalign`, `valloc` and `pvalloc` (and passes `malloc_usable_size`
//! through) into a binary file that `replay record` then turns into the native CSV.
//!
//! # What it does, per call
//! The real function is found once with `dlsym(RTLD_NEXT, ...)` (so a program linked against
//! another allocator is recorded against that one). An allocation is recorded *after* the real
//! call returns, a `free` *before* the real free runs: whichever thread gets an address next can
//! only do so after the free, so its record gets a later sequence number. A `realloc` is recorded
//! after it returns (see "Threads" for the window this leaves).
//!
//! # The raw file
//! `"RPLYREC2"`, then fixed 48-byte records in the machine's byte order ([`Record`]), written in
//! chunks by several threads, so *not* in sequence order: the reader sorts them by `seq`. The
//! first record is the status record ([`OP_STATUS`], at byte [`STATUS_AT`]): it says nothing
//! while recording goes on, and is overwritten in place with the cause when recording stops
//! before the program's end (a failed write, the descriptor closed by the program, an `exec`
//! into a program that does not record), so that `replay record` can name it. The second, and
//! the first of every chunk, is a clock record ([`OP_CLOCK`], see "Time"); the third names the
//! program ([`OP_NAME`]). The last record,
//! written at exit, has op [`OP_END`] and `seq` = the number of sequence numbers handed out:
//! fewer records than that means events were lost, and `replay record` says so. The file is
//! created anew (never truncated) when recording starts.
//!
//! # Time
//! Each record's `time` is a reading of the recording's clock: the CPU's time-stamp counter
//! (`rdtsc`) when it runs at a constant rate (CPUID's invariant TSC), the kernel uses it as its
//! own clock source (so it found it synchronised between CPUs) and the process may read it;
//! `CLOCK_MONOTONIC` in nanoseconds otherwise (`clock_gettime`, slower: on an allocation-heavy
//! Python run, the counter took a third off the interposer's cost). The counter, its checks and
//! the paired reading below are `src/tsc.rs` of `replay`, included here as [`tsc`], the same
//! code as `replay`'s latency clock: no allocation, no lock, async-signal-safe calls only. A clock
//! record pairs a reading with `CLOCK_MONOTONIC` at the same instant: one is written when
//! recording starts and one at the head of every chunk, taken when the chunk is written.
//! `replay record` turns readings into nanoseconds with them (within a few tens of
//! nanoseconds).
//!
//! # The hard cases
//! - **Before `main`, and during `dlsym`**: the first call (or the library's constructor,
//!   whichever comes first) resolves the real functions. `dlsym` itself may allocate; those calls
//!   are served by bump allocation from a static 256 KiB bootstrap buffer (a 16-byte header
//!   holds each block's size, for `realloc` and `malloc_usable_size`). Bootstrap blocks are never
//!   recorded and their `free` is a no-op. Other threads that arrive while one thread resolves
//!   yield until it is done.
//! - **Re-entrancy**: a thread-local guard is set while a hook records; an allocation made from
//!   inside (by `dlsym`, `pthread_atfork`, or the allocator itself) goes straight to the real
//!   function, unrecorded. The hooks allocate nothing themselves: buffers are `mmap`ed, the
//!   thread-local state is `const`-initialised without destructors (no registration, no
//!   allocation), numbers are written as raw bytes.
//! - **Threads**: each thread claims a 48 KiB buffer (1024 records) from a static registry of
//!   1024 buffers, and writes each record with a sequence number from one global atomic counter
//!   and the clock's time. A full buffer is written to the file, after a clock record, under a
//!   global flush lock (one `write` per 1024 events). The locks (each buffer's, held while its
//!   owner appends, and the flush lock) spin briefly, then sleep in the kernel (a futex, see
//!   [`Lock`]): with more threads than cores, a thread preempted while it holds one would
//!   otherwise have the others spin through their whole time slices. The thread that filled it then also writes
//!   out the other threads' buffers whose first record is more than 65,536 calls old (those it
//!   can lock: their owners are not recording), so that a thread that stops calling does not
//!   hold back the conversion, which puts records in order as they come. A thread's buffer is
//!   flushed and given back by a `pthread_key` destructor when the thread exits; at process
//!   exit every buffer is flushed. A thread beyond the 1024 running at once is not recorded, and
//!   the loss is reported. The one ordering window left: `realloc` moves a block and frees the
//!   old address inside the call, so another thread could get the old address and record its
//!   allocation just before the realloc records; `replay record` then repairs the order
//!   (counted as `still_live`) and says so.
//! - **Processes**: the process `replay record` started (its parent is `REPLAY_RECORD_PARENT`)
//!   writes `REPLAY_RECORD_FILE`; when `REPLAY_RECORD_DIR` is set (the tree is followed),
//!   every other process that loads the interposer (children inherit `LD_PRELOAD` through
//!   `exec`, `posix_spawn` and `vfork` + `exec`) writes its own file there, `PID-START.raw`,
//!   START being its start time (field 22 of `/proc/self/stat`, kept by `exec`, not shared by
//!   a later process that gets the same pid). Without `REPLAY_RECORD_DIR`, only the first
//!   process records (`--no-follow`).
//! - **`fork`**: the child is not recorded (a `pthread_atfork` handler turns recording off in
//!   it; its copies of the parent's buffers are never written, since every flush checks the
//!   pid): its heap starts as a copy of its parent's, whose blocks it may free, so its calls
//!   alone would not replay. When the tree is followed it leaves an empty mark,
//!   `DIR/PID-START.fork`, for `replay record` to count; if it then `exec`s a program that
//!   loads the interposer, that program records as a process of its own.
//! - **`exec`** of the recorded process: the new program loads the interposer again, which
//!   starts the file anew (the old program's heap is gone with its address space, so its events
//!   would describe nothing that still exists). Events of the old program are discarded. The
//!   file is removed and created again rather than truncated: `replay record`, which reads it as
//!   it grows, then sees another file at the path and converts that one from the start. A new
//!   program that does not load the interposer (its environment lost `LD_PRELOAD`, as with
//!   `env -u LD_PRELOAD`, or it is statically linked or setuid) would leave the old program's
//!   file without its end: so `execve`, `execv`, `execvp`, `execvpe` and `fexecve` are
//!   interposed, and before calling the real one they write every buffer out and set the
//!   status record ([`STOP_EXEC_WITHOUT_PRELOAD`] when the new environment would not record,
//!   [`STOP_EXEC`] otherwise; put back if the `exec` fails). The trace is then the old
//!   program's, whole up to the `exec`, and `replay record` says why it ends there. (`execl`,
//!   `execlp` and `execle` are variadic, which stable Rust cannot define: not seen.)
//! - **Descriptors**: the raw file is opened close-on-exec and moved to a descriptor number of
//!   700 or more (where the limit allows), out of the way of the numbers programs open and
//!   `dup2` onto. A program may still close it (daemons close every descriptor they did not
//!   open) and open another file on its number: every write first checks (`fstat`: same
//!   device and inode) that the descriptor is still the raw file, and recording stops when it is
//!   not ([`STOP_FILE_CLOSED`] in the status record, written through the file opened again by
//!   its path). The calls from then on are lost, and reported as such, but nothing is ever
//!   written into the program's own files.
//! - **Write errors**: a `write` that fails (`ENOSPC` on a full filesystem, `EFBIG` past a file
//!   size limit, `EIO`) stops recording, its `errno` in the status record
//!   ([`STOP_WRITE_FAILED`]; overwriting the record in place needs no new space on filesystems
//!   that do not copy on write): `replay record` then fails, naming the file and the error,
//!   rather than convert a cut-off recording.
//! - **Sizes near 2^64**: every request goes to the real function as the program made it, and
//!   nothing the interposer computes from it can overflow (a panic would abort the program): a
//!   `calloc` or `reallocarray` whose product overflows is recorded with the size 2^64 - 1 (a
//!   failed call, as the real one fails), a `pvalloc` that cannot be rounded up to a page with
//!   the size asked for.
//! - **`errno`**: a hook leaves it as the real call left it (the program may read it after a
//!   failed call), whatever recording the call did.
//! - **`_exit` / `_Exit`**: interposed, they flush every buffer before exiting. A process that
//!   ends otherwise without running destructors (a signal, `exit_group` by hand) leaves events
//!   in the buffers: the missing end record (or missing sequence numbers) tells `replay record`,
//!   which reports the loss. Calls after the exit-time flush (other libraries' destructors) are
//!   not recorded: their blocks simply stay live in the trace.
//!
//! # Environment
//! `REPLAY_RECORD_FILE` (where the first process writes), `REPLAY_RECORD_PARENT` (pid of
//! `replay record`) and, when the tree is followed, `REPLAY_RECORD_DIR` (where the others
//! write); without the first two, or in a process that is neither the first nor followed, every
//! call passes straight through.

#![allow(clippy::missing_safety_doc)]

use core::cell::{Cell, UnsafeCell};
use core::ptr::null_mut;
use core::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize};
use libc::{c_char, c_int, c_void, size_t};

/// The time-stamp counter and its checks, one source file shared with `replay`'s latency clock
/// (see "Time").
#[path = "../../src/tsc.rs"]
mod tsc;

/// One recorded call, as written to the raw file.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Record {
    /// Position in the global order of calls, from 0.
    pub seq: u64,
    /// A reading of the recording's clock (see "Time" in the crate docs), in its ticks.
    pub time: u64,
    /// The pointer returned (allocations, `realloc`) or freed.
    pub ptr: u64,
    /// The requested size (`nmemb * size` for `calloc`); 0 for `free`.
    pub size: u64,
    /// `realloc`: the old pointer; `memalign` and friends: the alignment; otherwise 0.
    pub arg: u64,
    /// The kernel's thread id.
    pub tid: u32,
    /// One of the `OP_*` codes.
    pub op: u32,
}

pub const RECORD_BYTES: usize = core::mem::size_of::<Record>();
const _: () = assert!(RECORD_BYTES == 48);
pub const MAGIC: &[u8; 8] = b"RPLYREC2";
pub const OP_MALLOC: u32 = 0;
pub const OP_CALLOC: u32 = 1;
pub const OP_REALLOC: u32 = 2;
pub const OP_FREE: u32 = 3;
pub const OP_MEMALIGN: u32 = 4;
/// Written once at exit: `seq` holds the count of sequence numbers handed out, `ptr` the calls
/// that found no free buffer.
pub const OP_END: u32 = 5;
/// A clock reading (`time`) and `CLOCK_MONOTONIC` in nanoseconds (`ptr`) at the same instant:
/// first in the file and first in every chunk of records (see "Time").
pub const OP_CLOCK: u32 = 6;
/// The status record, the file's first, at [`STATUS_AT`]: why recording stopped before the
/// end, overwritten in place when it does. `ptr` is one of the `STOP_*` causes, `size` the
/// `errno` of a failed write, `seq` the count of sequence numbers handed out by then.
pub const OP_STATUS: u32 = 7;
/// Where the status record is: right after the magic.
pub const STATUS_AT: usize = MAGIC.len();
/// Still recording (or ended with the end record).
pub const STOP_NONE: u64 = 0;
/// A write to the file failed (`size`: its `errno`: `ENOSPC`, `EFBIG`, `EIO`...).
pub const STOP_WRITE_FAILED: u64 = 1;
/// The program closed the file's descriptor (and maybe opened another file on its number).
pub const STOP_FILE_CLOSED: u64 = 2;
/// The program `exec`ed another with an environment that would not record it: no
/// `LD_PRELOAD` naming the interposer, or no `REPLAY_RECORD_FILE`/`REPLAY_RECORD_PARENT`.
pub const STOP_EXEC_WITHOUT_PRELOAD: u64 = 3;
/// The program `exec`ed another with the environment that records it; a program that loads
/// the interposer starts the file anew, so this status remains only when it did not
/// (statically linked, setuid or setgid).
pub const STOP_EXEC: u64 = 4;
/// The program's name (its `comm`, as `ps` shows it: at most 15 bytes), NUL-padded in the 24
/// bytes of `ptr`, `size` and `arg`: the file's third record, written when recording starts
/// (an `exec` starts the file anew, so it is the last program's name).
pub const OP_NAME: u32 = 8;

// ---------------------------------------------------------------- the real functions

type MallocFn = unsafe extern "C" fn(size_t) -> *mut c_void;
type CallocFn = unsafe extern "C" fn(size_t, size_t) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, size_t) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type MemalignFn = unsafe extern "C" fn(size_t, size_t) -> *mut c_void;
type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, size_t, size_t) -> c_int;
type UsableSizeFn = unsafe extern "C" fn(*mut c_void) -> size_t;
type ExitFn = unsafe extern "C" fn(c_int) -> !;
type Strings = *const *const c_char;
type ExecveFn = unsafe extern "C" fn(*const c_char, Strings, Strings) -> c_int;
type ExecvFn = unsafe extern "C" fn(*const c_char, Strings) -> c_int;
type FexecveFn = unsafe extern "C" fn(c_int, Strings, Strings) -> c_int;

/// Addresses of the real functions, 0 until resolved.
struct Real {
    malloc: AtomicUsize,
    calloc: AtomicUsize,
    realloc: AtomicUsize,
    free: AtomicUsize,
    memalign: AtomicUsize,
    aligned_alloc: AtomicUsize,
    posix_memalign: AtomicUsize,
    valloc: AtomicUsize,
    pvalloc: AtomicUsize,
    usable_size: AtomicUsize,
    exit: AtomicUsize,
    execve: AtomicUsize,
    execv: AtomicUsize,
    execvp: AtomicUsize,
    execvpe: AtomicUsize,
    fexecve: AtomicUsize,
}

static REAL: Real = Real {
    malloc: AtomicUsize::new(0),
    calloc: AtomicUsize::new(0),
    realloc: AtomicUsize::new(0),
    free: AtomicUsize::new(0),
    memalign: AtomicUsize::new(0),
    aligned_alloc: AtomicUsize::new(0),
    posix_memalign: AtomicUsize::new(0),
    valloc: AtomicUsize::new(0),
    pvalloc: AtomicUsize::new(0),
    usable_size: AtomicUsize::new(0),
    exit: AtomicUsize::new(0),
    execve: AtomicUsize::new(0),
    execv: AtomicUsize::new(0),
    execvp: AtomicUsize::new(0),
    execvpe: AtomicUsize::new(0),
    fexecve: AtomicUsize::new(0),
};

/// The function at `slot`, which [`ready`] has resolved. A slot that dlsym could not fill
/// would be a broken libc; it then falls back to `fallback`.
macro_rules! real {
    ($slot:ident, $ty:ty, $fallback:expr) => {{
        let addr = REAL.$slot.load(Relaxed);
        if addr == 0 {
            $fallback
        } else {
            // SAFETY: the address came from dlsym for a function of this signature.
            unsafe { core::mem::transmute::<usize, $ty>(addr) }
        }
    }};
}

const UNINIT: u32 = 0;
const RESOLVING: u32 = 1;
const READY: u32 = 2;
static STATE: AtomicU32 = AtomicU32::new(UNINIT);

thread_local! {
    /// Set while this thread records a call: calls made meanwhile pass through unrecorded.
    static GUARD: Cell<bool> = const { Cell::new(false) };
    /// Set while this thread resolves the real functions: its calls use the bootstrap buffer.
    static RESOLVING_HERE: Cell<bool> = const { Cell::new(false) };
    /// This thread's buffer, or null before its first recorded call.
    static MY_BUF: Cell<*mut Buf> = const { Cell::new(null_mut()) };
    /// The kernel's id of this thread, 0 until asked.
    static TID: Cell<u32> = const { Cell::new(0) };
}

/// Whether the real functions are known. False only for the thread that is resolving them
/// (it must use the bootstrap buffer); other threads wait for it.
#[inline]
fn ready() -> bool {
    STATE.load(Acquire) == READY || init_slow()
}

#[cold]
fn init_slow() -> bool {
    match STATE.compare_exchange(UNINIT, RESOLVING, AcqRel, Acquire) {
        Ok(_) => {
            RESOLVING_HERE.with(|r| r.set(true));
            resolve();
            RESOLVING_HERE.with(|r| r.set(false));
            STATE.store(READY, Release);
            // Allocations made while setting up (pthread_atfork may allocate) pass through.
            GUARD.with(|g| g.set(true));
            start_recording();
            GUARD.with(|g| g.set(false));
            true
        }
        Err(READY) => true,
        Err(_) => {
            if RESOLVING_HERE.with(Cell::get) {
                return false;
            }
            while STATE.load(Acquire) != READY {
                // SAFETY: sched_yield has no preconditions.
                unsafe { libc::sched_yield() };
            }
            true
        }
    }
}

fn resolve() {
    let find = |name: &core::ffi::CStr, slot: &AtomicUsize| {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT is valid in a shared object.
        let addr = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
        slot.store(addr as usize, Relaxed);
    };
    find(c"malloc", &REAL.malloc);
    find(c"calloc", &REAL.calloc);
    find(c"realloc", &REAL.realloc);
    find(c"free", &REAL.free);
    find(c"memalign", &REAL.memalign);
    find(c"aligned_alloc", &REAL.aligned_alloc);
    find(c"posix_memalign", &REAL.posix_memalign);
    find(c"valloc", &REAL.valloc);
    find(c"pvalloc", &REAL.pvalloc);
    find(c"malloc_usable_size", &REAL.usable_size);
    find(c"_exit", &REAL.exit);
    find(c"execve", &REAL.execve);
    find(c"execv", &REAL.execv);
    find(c"execvp", &REAL.execvp);
    find(c"execvpe", &REAL.execvpe);
    find(c"fexecve", &REAL.fexecve);
}

/// Resolve early, in a single thread, before `main`.
extern "C" fn constructor() {
    ready();
}

#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = constructor;

extern "C" fn destructor() {
    finish();
}

#[used]
#[link_section = ".fini_array"]
static DESTRUCTOR: extern "C" fn() = destructor;

// ---------------------------------------------------------------- bootstrap buffer

const BOOT_BYTES: usize = 256 << 10;

#[repr(C, align(4096))]
struct Boot(UnsafeCell<[u8; BOOT_BYTES]>);
// SAFETY: disjoint ranges are handed out by an atomic bump pointer.
unsafe impl Sync for Boot {}

static BOOT: Boot = Boot(UnsafeCell::new([0; BOOT_BYTES]));
static BOOT_USED: AtomicUsize = AtomicUsize::new(0);

fn boot_base() -> usize {
    BOOT.0.get() as usize
}

fn is_bootstrap(p: *mut c_void) -> bool {
    let p = p as usize;
    p >= boot_base() && p < boot_base() + BOOT_BYTES
}

/// A zeroed block of `size` bytes from the bootstrap buffer (null when it is full).
fn boot_alloc(size: usize, align: usize) -> *mut c_void {
    let align = align.max(16);
    if !align.is_power_of_two() {
        return null_mut();
    }
    let mut used = BOOT_USED.load(Relaxed);
    loop {
        // No arithmetic here may overflow: sizes and alignments come from the program.
        let start = match (boot_base() + used + 16).checked_next_multiple_of(align) {
            Some(start) => start - boot_base(),
            None => return null_mut(),
        };
        let end = match start.checked_add(size) {
            Some(end) if end <= BOOT_BYTES => end,
            _ => return null_mut(),
        };
        match BOOT_USED.compare_exchange_weak(used, end, AcqRel, Relaxed) {
            Ok(_) => {
                let p = (boot_base() + start) as *mut usize;
                // SAFETY: [start - 16, end) is ours; the size goes just below the payload.
                unsafe { p.sub(1).write(size) };
                return p.cast();
            }
            Err(now) => used = now,
        }
    }
}

fn boot_size(p: *mut c_void) -> usize {
    // SAFETY: `p` is a bootstrap block, whose size sits right below it.
    unsafe { p.cast::<usize>().sub(1).read() }
}

// ---------------------------------------------------------------- recording

static RECORDING: AtomicBool = AtomicBool::new(false);
static FD: AtomicI32 = AtomicI32::new(-1);
/// The device and inode of the file `FD` was opened on, to tell it from another file the
/// program opened on the same number after closing ours.
static FILE_DEV: AtomicU64 = AtomicU64::new(0);
static FILE_INO: AtomicU64 = AtomicU64::new(0);
/// The lowest descriptor number the raw file is moved to, out of the way of the small numbers
/// programs open and `dup2` onto.
const HIGH_FD: c_int = 700;
/// Bytes kept of the raw file's path (with its NUL).
const PATH_BYTES: usize = 4096;

/// The raw file's path, NUL-terminated, set once when recording starts.
struct FilePath(UnsafeCell<[u8; PATH_BYTES]>);
// SAFETY: written once, by the constructor, before recording starts; only read afterwards.
unsafe impl Sync for FilePath {}
static PATH: FilePath = FilePath(UnsafeCell::new([0; PATH_BYTES]));

/// The process that records; a forked child has another pid and writes nothing.
static OWNER_PID: AtomicI32 = AtomicI32::new(0);
static SEQ: AtomicU64 = AtomicU64::new(0);
/// Calls that found no free buffer (more than [`MAX_BUFS`] threads at once).
static NO_BUFFER: AtomicU64 = AtomicU64::new(0);
/// Held while a chunk is written to the file.
static FLUSH_LOCK: Lock = Lock::new();
static KEY: AtomicU32 = AtomicU32::new(u32::MAX);

const BUF_RECORDS: usize = 1024;
const MAX_BUFS: usize = 1024;

struct Buf {
    /// Held by the owning thread while it appends, and by whoever flushes.
    lock: Lock,
    /// Whether a thread owns this buffer.
    in_use: AtomicBool,
    len: UnsafeCell<usize>,
    /// The chunk's clock record (filled when it is written), then `len` records.
    records: UnsafeCell<[Record; BUF_RECORDS + 1]>,
}

static REGISTRY: [AtomicPtr<Buf>; MAX_BUFS] = [const { AtomicPtr::new(null_mut()) }; MAX_BUFS];

/// A lock that sleeps under contention: a few spins, then the thread waits in the kernel
/// (`FUTEX_WAIT`) until the holder wakes it (`FUTEX_WAKE`). A spin lock alone would have
/// threads spin through whole time slices while the holder, preempted, cannot finish: with 16
/// threads on 2 cores, more than half their time. The state is 0 free, 1 held, 2 held and
/// maybe waited for ("Futexes Are Tricky", Drepper, mutex 2); zeroed memory is a free lock.
/// It allocates nothing and keeps `errno`.
#[repr(transparent)]
struct Lock(AtomicU32);

/// Spins before sleeping: about the time a short critical section (appending a record) takes.
const SPINS: u32 = 100;

impl Lock {
    const fn new() -> Lock {
        Lock(AtomicU32::new(0))
    }

    #[inline]
    fn try_lock(&self) -> bool {
        self.0.compare_exchange(0, 1, Acquire, Relaxed).is_ok()
    }

    #[inline]
    fn lock(&self) {
        if !self.try_lock() {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        for _ in 0..SPINS {
            core::hint::spin_loop();
            if self.0.load(Relaxed) == 0 && self.try_lock() {
                return;
            }
        }
        let saved = errno();
        // Marked as waited for: whoever unlocks wakes a sleeper.
        while self.0.swap(2, Acquire) != 0 {
            // SAFETY: a futex wait on our own word, while it still holds 2; no timeout.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.0.as_ptr(),
                    libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                    2u32,
                    null_mut::<libc::timespec>(),
                )
            };
        }
        set_errno(saved);
    }

    #[inline]
    fn unlock(&self) {
        if self.0.swap(0, Release) == 2 {
            let saved = errno();
            // SAFETY: wakes one thread waiting on our own word.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.0.as_ptr(),
                    libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                    1u32,
                )
            };
            set_errno(saved);
        }
    }
}

fn errno() -> c_int {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() }
}

fn set_errno(value: c_int) {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() = value };
}

fn start_recording() {
    // SAFETY: getenv/getppid/open/write with valid NUL-terminated strings; nothing here
    // allocates through our hooks except pthread_atfork, which runs under the guard.
    unsafe {
        let file = libc::getenv(c"REPLAY_RECORD_FILE".as_ptr());
        let parent = libc::getenv(c"REPLAY_RECORD_PARENT".as_ptr());
        let dir = libc::getenv(c"REPLAY_RECORD_DIR".as_ptr());
        if file.is_null() || parent.is_null() {
            return;
        }
        let parent = libc::atoi(parent);
        if parent <= 0 {
            return;
        }
        // Kept to open the file again for its status record (see [`set_status`]), when the
        // program may have closed our descriptor.
        let path = PATH.0.get().cast::<u8>();
        let top = libc::getppid() == parent;
        TOP.store(top, Relaxed);
        if top {
            // The process `replay record` started.
            let len = libc::strlen(file);
            if len >= PATH_BYTES {
                return;
            }
            core::ptr::copy_nonoverlapping(file.cast::<u8>(), path, len + 1);
        } else if dir.is_null() || !process_file(dir, path) {
            // Another process of the tree, not followed (`--no-follow`), or a path too long.
            return;
        }
        if !dir.is_null() {
            let len = libc::strlen(dir);
            if len < PATH_BYTES {
                core::ptr::copy_nonoverlapping(dir.cast::<u8>(), DIR.0.get().cast::<u8>(), len + 1);
            }
        }
        let file: *const c_char = path.cast();
        // A new file, not the old one truncated: `replay record` reads the file as it grows, and
        // after an `exec` must find it replaced (another file at that path), not rewritten.
        libc::unlink(file);
        let fd = libc::open(
            file,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_APPEND | libc::O_CLOEXEC,
            0o644,
        );
        if fd < 0 {
            return;
        }
        // Out of the way of the numbers the program uses; kept where it is if the limit on
        // descriptors is lower.
        let high = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, HIGH_FD);
        let fd = if high >= 0 {
            libc::close(fd);
            high
        } else {
            fd
        };
        let mut stat: libc::stat = core::mem::zeroed();
        if libc::fstat(fd, &mut stat) != 0 {
            libc::close(fd);
            return;
        }
        FILE_DEV.store(stat.st_dev, Relaxed);
        FILE_INO.store(stat.st_ino, Relaxed);
        TSC.store(tsc::usable(), Relaxed);
        let mut start = [0u8; MAGIC.len() + 3 * RECORD_BYTES];
        start[..MAGIC.len()].copy_from_slice(MAGIC);
        let status = status_record(STOP_NONE, 0);
        let clock = clock_record();
        let name = name_record();
        for (at, record) in [
            (STATUS_AT, &status),
            (STATUS_AT + RECORD_BYTES, &clock),
            (STATUS_AT + 2 * RECORD_BYTES, &name),
        ] {
            start[at..at + RECORD_BYTES].copy_from_slice(core::slice::from_raw_parts(
                (record as *const Record).cast::<u8>(),
                RECORD_BYTES,
            ));
        }
        if !write_all(fd, start.as_ptr(), start.len()) {
            libc::close(fd);
            return;
        }
        let mut key: libc::pthread_key_t = 0;
        if libc::pthread_key_create(&mut key, Some(thread_exit)) == 0 {
            KEY.store(key, Relaxed);
        }
        libc::pthread_atfork(None, None, Some(in_forked_child));
        FD.store(fd, Relaxed);
        OWNER_PID.store(libc::getpid(), Relaxed);
        RECORDING.store(true, Release);
    }
}

/// A child forked by a recorded process stops recording (see "Processes" in the crate docs).
/// When the tree is followed it leaves a mark, `DIR/PID-START.fork` (an empty file), so that
/// `replay record` can count the forked processes that did not record: the mark of one that
/// goes on to `exec` a program that records is matched by that program's raw file.
extern "C" fn in_forked_child() {
    RECORDING.store(false, Relaxed);
    // SAFETY: a NUL-terminated path built on the stack; open and close are async-signal-safe.
    unsafe {
        let dir = DIR.0.get().cast::<u8>();
        if *dir == 0 {
            return;
        }
        let mut mark = [0u8; PATH_BYTES];
        if process_name_in(dir.cast(), mark.as_mut_ptr(), b".fork") {
            let saved = errno();
            let fd = libc::open(
                mark.as_ptr().cast(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                0o600,
            );
            if fd >= 0 {
                libc::close(fd);
            }
            set_errno(saved);
        }
    }
}

/// Whether this is the process `replay record` started (its parent is `replay`).
static TOP: AtomicBool = AtomicBool::new(false);

/// The directory of the other processes' files (`REPLAY_RECORD_DIR`), NUL-terminated; empty
/// when the tree is not followed.
static DIR: FilePath = FilePath(UnsafeCell::new([0; PATH_BYTES]));

/// Put this process's raw file's path, `DIR/PID-START.raw`, into `out` (PATH_BYTES long):
/// false when it does not fit.
unsafe fn process_file(dir: *const c_char, out: *mut u8) -> bool {
    process_name_in(dir, out, b".raw")
}

/// `DIR/PID-START` and `suffix` into `out` (PATH_BYTES long), NUL-terminated: START is the
/// process's start time (field 22 of `/proc/self/stat`, in clock ticks since boot), which an
/// `exec` keeps and a later process given the same pid does not share. False when it does not
/// fit.
unsafe fn process_name_in(dir: *const c_char, out: *mut u8, suffix: &[u8]) -> bool {
    let len = libc::strlen(dir);
    let mut name = [0u8; 64];
    let mut n = 0;
    let mut push = |bytes: &[u8]| {
        for &b in bytes {
            if n < name.len() {
                name[n] = b;
                n += 1;
            }
        }
    };
    push(b"/");
    push(decimal(libc::getpid() as u64).as_bytes_of());
    push(b"-");
    push(decimal(start_time()).as_bytes_of());
    push(suffix);
    if len + n + 1 > PATH_BYTES {
        return false;
    }
    core::ptr::copy_nonoverlapping(dir.cast::<u8>(), out, len);
    core::ptr::copy_nonoverlapping(name.as_ptr(), out.add(len), n);
    *out.add(len + n) = 0;
    true
}

/// A number's decimal digits, without allocating.
struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    fn as_bytes_of(&self) -> &[u8] {
        &self.digits[self.start..]
    }
}

fn decimal(mut value: u64) -> Decimal {
    let mut d = Decimal { digits: [0; 20], start: 20 };
    loop {
        d.start -= 1;
        d.digits[d.start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return d;
        }
    }
}

/// This process's start time, field 22 of `/proc/self/stat` (0 when it cannot be read).
unsafe fn start_time() -> u64 {
    let fd = libc::open(c"/proc/self/stat".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
    if fd < 0 {
        return 0;
    }
    let mut buf = [0u8; 1024];
    let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
    libc::close(fd);
    if n <= 0 {
        return 0;
    }
    let stat = &buf[..n as usize];
    // The name, field 2, is in parentheses and may hold anything: fields count from its end.
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return 0;
    };
    // Field 3 is the first after the name; field 22 is the 20th.
    stat[close + 1..].split(|&b| b == b' ').filter(|f| !f.is_empty()).nth(19).map_or(0, |field| {
        field
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0u64, |v, &b| v.saturating_mul(10).saturating_add(u64::from(b - b'0')))
    })
}

/// The name record: see [`OP_NAME`].
fn name_record() -> Record {
    let mut name = [0u8; 24];
    // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL included.
    unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr(), 0, 0, 0) };
    let word = |at: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&name[at..at + 8]);
        u64::from_le_bytes(w)
    };
    Record { seq: 0, time: 0, ptr: word(0), size: word(8), arg: word(16), tid: tid(), op: OP_NAME }
}

/// Write `len` bytes to the raw file, holding `FLUSH_LOCK`, if `fd` is still the raw file: a
/// program that closes descriptors it did not open (as daemons do) may have closed it, and
/// opened another file on its number. Recording then stops: the records from then on are lost,
/// rather than written into the program's own file, and the status record says why
/// ([`STOP_FILE_CLOSED`]). A write that fails (a full filesystem, a file size limit) stops
/// recording the same way, its `errno` in the status record ([`STOP_WRITE_FAILED`]).
unsafe fn write_records(fd: c_int, bytes: *const u8, len: usize) {
    if !is_the_raw_file(fd) {
        stop(STOP_FILE_CLOSED, 0);
        return;
    }
    if !write_all(fd, bytes, len) {
        stop(STOP_WRITE_FAILED, errno());
    }
}

/// Whether `fd` is open on the raw file (same device and inode).
unsafe fn is_the_raw_file(fd: c_int) -> bool {
    let mut stat: libc::stat = core::mem::zeroed();
    libc::fstat(fd, &mut stat) == 0
        && stat.st_dev == FILE_DEV.load(Relaxed)
        && stat.st_ino == FILE_INO.load(Relaxed)
}

/// Stop recording for `cause` (`errno` for a failed write) and say so in the status record.
unsafe fn stop(cause: u64, error: c_int) {
    RECORDING.store(false, Relaxed);
    FD.store(-1, Relaxed);
    set_status(cause, error);
}

/// `write` until done; false on an error (in `errno`; a write that writes nothing is `EIO`).
unsafe fn write_all(fd: c_int, mut bytes: *const u8, mut len: usize) -> bool {
    while len > 0 {
        let n = libc::write(fd, bytes.cast(), len);
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        if n == 0 {
            set_errno(libc::EIO);
            return false;
        }
        bytes = bytes.add(n as usize);
        len -= n as usize;
    }
    true
}

/// The status record for `cause`: see [`OP_STATUS`].
fn status_record(cause: u64, error: c_int) -> Record {
    Record {
        seq: SEQ.load(Relaxed),
        time: now(),
        ptr: cause,
        size: error as u64,
        arg: 0,
        tid: tid(),
        op: OP_STATUS,
    }
}

/// Overwrite the status record (at [`STATUS_AT`]) with `cause`, through a descriptor opened
/// for it on the file's path: ours may be the reason recording stopped (closed by the
/// program), and the file may have no room to grow, which overwriting in place does not need
/// (on filesystems that do not copy on write). Best effort: when the file cannot be opened,
/// `replay record` finds no cause and says what it can.
unsafe fn set_status(cause: u64, error: c_int) {
    if libc::getpid() != OWNER_PID.load(Relaxed) {
        return;
    }
    let saved = errno();
    let fd = libc::open(PATH.0.get().cast(), libc::O_WRONLY | libc::O_CLOEXEC);
    if fd >= 0 {
        if is_the_raw_file(fd) {
            let status = status_record(cause, error);
            libc::pwrite(
                fd,
                (&status as *const Record).cast(),
                RECORD_BYTES,
                STATUS_AT as libc::off_t,
            );
        }
        libc::close(fd);
    }
    set_errno(saved);
}

/// Write the buffer's records out, after a clock record, and empty it. The caller holds
/// `buf.lock`.
unsafe fn flush(buf: *mut Buf) {
    let len = *(*buf).len.get();
    *(*buf).len.get() = 0;
    let fd = FD.load(Relaxed);
    if len == 0 || fd < 0 || libc::getpid() != OWNER_PID.load(Relaxed) {
        return;
    }
    let saved = errno();
    (*(*buf).records.get())[0] = clock_record();
    FLUSH_LOCK.lock();
    write_records(fd, (*buf).records.get().cast::<u8>(), (len + 1) * RECORD_BYTES);
    FLUSH_LOCK.unlock();
    set_errno(saved);
}

/// This thread's buffer, claimed on first use; null when all are taken.
fn my_buf() -> *mut Buf {
    let buf = MY_BUF.with(Cell::get);
    if !buf.is_null() {
        return buf;
    }
    let buf = claim_buf();
    if !buf.is_null() {
        MY_BUF.with(|b| b.set(buf));
        let key = KEY.load(Relaxed);
        if key != u32::MAX {
            // SAFETY: a key from pthread_key_create; keys below 32 store inline (no malloc).
            unsafe { libc::pthread_setspecific(key, buf.cast()) };
        }
    }
    buf
}

#[cold]
fn claim_buf() -> *mut Buf {
    let saved = errno();
    let buf = claim_free_buf();
    set_errno(saved);
    buf
}

fn claim_free_buf() -> *mut Buf {
    for slot in &REGISTRY {
        let mut buf = slot.load(Acquire);
        if buf.is_null() {
            // SAFETY: an anonymous private mapping; zeroed memory is a valid, empty Buf.
            let fresh = unsafe {
                libc::mmap(
                    null_mut(),
                    core::mem::size_of::<Buf>(),
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if fresh == libc::MAP_FAILED {
                return null_mut();
            }
            let fresh = fresh.cast::<Buf>();
            // A fresh buffer is born owned by us.
            // SAFETY: nobody else sees `fresh` yet.
            unsafe { (*fresh).in_use.store(true, Relaxed) };
            match slot.compare_exchange(null_mut(), fresh, AcqRel, Acquire) {
                Ok(_) => return fresh,
                Err(other) => {
                    // SAFETY: ours, never published.
                    unsafe { libc::munmap(fresh.cast(), core::mem::size_of::<Buf>()) };
                    buf = other;
                }
            }
        }
        // SAFETY: published buffers are never unmapped.
        if unsafe { (*buf).in_use.compare_exchange(false, true, Acquire, Relaxed) }.is_ok() {
            return buf;
        }
    }
    null_mut()
}

/// pthread key destructor: the thread ends, its buffer is written and given back.
unsafe extern "C" fn thread_exit(buf: *mut c_void) {
    let buf = buf.cast::<Buf>();
    if buf.is_null() {
        return;
    }
    (*buf).lock.lock();
    flush(buf);
    (*buf).lock.unlock();
    MY_BUF.with(|b| b.set(null_mut()));
    (*buf).in_use.store(false, Release);
}

fn tid() -> u32 {
    let tid = TID.with(Cell::get);
    if tid != 0 {
        return tid;
    }
    // SAFETY: gettid takes no arguments.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
    TID.with(|t| t.set(tid));
    tid
}

/// Whether the clock is the time-stamp counter (else `CLOCK_MONOTONIC`): see "Time".
static TSC: AtomicBool = AtomicBool::new(false);

/// The recording's clock: see "Time".
#[inline]
fn now() -> u64 {
    tsc::now(TSC.load(Relaxed))
}

/// The clock and `CLOCK_MONOTONIC` at the same instant ([`tsc::paired`]).
fn clock_record() -> Record {
    let (time, ns) = tsc::paired(TSC.load(Relaxed));
    Record { seq: 0, time, ptr: ns, size: 0, arg: 0, tid: tid(), op: OP_CLOCK }
}

/// Start recording a call on this thread: false when the call must pass through unrecorded
/// (not recording, or called from inside a hook).
#[inline]
fn enter() -> bool {
    if !RECORDING.load(Relaxed) {
        return false;
    }
    GUARD.with(|g| !g.replace(true))
}

#[inline]
fn leave() {
    GUARD.with(|g| g.set(false));
}

/// Record a call. `errno` is kept (the program may read it after a failed call): only the
/// system calls of [`flush`] and [`claim_buf`] could change it, and they put it back.
fn record(op: u32, ptr: u64, size: u64, arg: u64) {
    let buf = my_buf();
    if buf.is_null() {
        NO_BUFFER.fetch_add(1, Relaxed);
        SEQ.fetch_add(1, Relaxed);
        return;
    }
    // SAFETY: the buffer is ours (in_use); its lock keeps an exit-time flush out.
    unsafe {
        (*buf).lock.lock();
        let seq = SEQ.fetch_add(1, Relaxed);
        let len = *(*buf).len.get();
        (*(*buf).records.get())[len + 1] =
            Record { seq, time: now(), ptr, size, arg, tid: tid(), op };
        *(*buf).len.get() = len + 1;
        if len + 1 == BUF_RECORDS {
            flush(buf);
            flush_stale(buf, seq);
        }
        (*buf).lock.unlock();
    }
}

/// How many sequence numbers old a buffer's first record may get before another thread writes
/// the buffer out (see [`flush_stale`]).
const STALE: u64 = 1 << 16;

/// Write out the other threads' buffers whose first record is more than [`STALE`] numbers older
/// than `seq`: a thread that stops calling (blocked in `pthread_join`, say) would otherwise keep
/// its few records until it exits, and `replay record`, which puts the records in order as it
/// reads them, would have to hold every later record until then. A buffer whose owner is
/// recording (its lock taken) is left alone. Called by a thread that holds its own buffer's lock,
/// `own`, once per buffer it fills.
unsafe fn flush_stale(own: *mut Buf, seq: u64) {
    for slot in &REGISTRY {
        let buf = slot.load(Acquire);
        // Slots are filled in order: the first empty one ends the buffers.
        if buf.is_null() {
            break;
        }
        if buf == own || !(*buf).in_use.load(Relaxed) {
            continue;
        }
        if !(*buf).lock.try_lock() {
            continue;
        }
        let len = *(*buf).len.get();
        if len > 0 && (*(*buf).records.get())[1].seq.saturating_add(STALE) < seq {
            flush(buf);
        }
        (*buf).lock.unlock();
    }
}

/// Write out every thread's buffer.
unsafe fn flush_all() {
    for slot in &REGISTRY {
        let buf = slot.load(Acquire);
        if !buf.is_null() {
            (*buf).lock.lock();
            flush(buf);
            (*buf).lock.unlock();
        }
    }
}

/// Flush every buffer and write the end record. Recording stops first.
fn finish() {
    if !RECORDING.swap(false, AcqRel) {
        return;
    }
    // SAFETY: buffers are never unmapped; each is locked while written.
    unsafe {
        if libc::getpid() != OWNER_PID.load(Relaxed) {
            return;
        }
        flush_all();
        let end = Record {
            seq: SEQ.load(Relaxed),
            time: now(),
            ptr: NO_BUFFER.load(Relaxed),
            size: 0,
            arg: 0,
            tid: tid(),
            op: OP_END,
        };
        let fd = FD.load(Relaxed);
        FLUSH_LOCK.lock();
        if fd >= 0 {
            write_records(fd, (&end as *const Record).cast(), RECORD_BYTES);
        }
        FLUSH_LOCK.unlock();
    }
}

// ---------------------------------------------------------------- the hooks

/// Record an allocation that returned `p`, made by `call` (unless passing through).
#[inline]
fn allocation(op: u32, size: u64, align: u64, call: impl FnOnce() -> *mut c_void) -> *mut c_void {
    if !enter() {
        return call();
    }
    let p = call();
    record(op, p as u64, size, align);
    leave();
    p
}

#[no_mangle]
pub unsafe extern "C" fn malloc(size: size_t) -> *mut c_void {
    if !ready() {
        return boot_alloc(size, 16);
    }
    let f = real!(malloc, MallocFn, return null_mut());
    allocation(OP_MALLOC, size as u64, 0, || f(size))
}

#[no_mangle]
pub unsafe extern "C" fn calloc(nmemb: size_t, size: size_t) -> *mut c_void {
    if !ready() {
        let Some(total) = nmemb.checked_mul(size) else {
            set_errno(libc::ENOMEM);
            return null_mut();
        };
        return boot_alloc(total, 16);
    }
    let f = real!(calloc, CallocFn, return null_mut());
    // A product past 2^64 fails in the real calloc; it is recorded as a request of 2^64 - 1
    // bytes (the most a record holds), which failed.
    allocation(OP_CALLOC, (nmemb as u64).saturating_mul(size as u64), 0, || f(nmemb, size))
}

#[no_mangle]
pub unsafe extern "C" fn realloc(old: *mut c_void, size: size_t) -> *mut c_void {
    if is_bootstrap(old) {
        // A bootstrap block moves out (to a recorded malloc once the real functions are known).
        let new = if ready() { malloc(size) } else { boot_alloc(size, 16) };
        if !new.is_null() {
            core::ptr::copy_nonoverlapping(old.cast::<u8>(), new.cast(), boot_size(old).min(size));
        }
        return new;
    }
    if !ready() {
        // Only `realloc(NULL, n)` can come before the real functions are known.
        return if old.is_null() { boot_alloc(size, 16) } else { null_mut() };
    }
    let f = real!(realloc, ReallocFn, return null_mut());
    if !enter() {
        return f(old, size);
    }
    let p = f(old, size);
    record(OP_REALLOC, p as u64, size as u64, old as u64);
    leave();
    p
}

#[no_mangle]
pub unsafe extern "C" fn reallocarray(
    old: *mut c_void,
    nmemb: size_t,
    size: size_t,
) -> *mut c_void {
    match nmemb.checked_mul(size) {
        Some(total) => realloc(old, total),
        None => {
            // Fails as glibc's does, leaving `old` alone; recorded as a failed realloc of
            // 2^64 - 1 bytes (the most a record holds).
            if ready() && enter() {
                record(OP_REALLOC, 0, u64::MAX, old as u64);
                leave();
            }
            set_errno(libc::ENOMEM);
            null_mut()
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if p.is_null() || is_bootstrap(p) || !ready() {
        return;
    }
    let f = real!(free, FreeFn, return);
    if !enter() {
        return f(p);
    }
    // Recorded before the block is given back: see the crate docs.
    record(OP_FREE, p as u64, 0, 0);
    f(p);
    leave();
}

#[no_mangle]
pub unsafe extern "C" fn memalign(align: size_t, size: size_t) -> *mut c_void {
    if !ready() {
        return boot_alloc(size, align);
    }
    let f = real!(memalign, MemalignFn, return null_mut());
    allocation(OP_MEMALIGN, size as u64, align as u64, || f(align, size))
}

#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
    if !ready() {
        return boot_alloc(size, align);
    }
    let f = real!(aligned_alloc, MemalignFn, return null_mut());
    allocation(OP_MEMALIGN, size as u64, align as u64, || f(align, size))
}

#[no_mangle]
pub unsafe extern "C" fn posix_memalign(
    out: *mut *mut c_void,
    align: size_t,
    size: size_t,
) -> c_int {
    if !ready() {
        let p = boot_alloc(size, align);
        if p.is_null() {
            return libc::ENOMEM;
        }
        *out = p;
        return 0;
    }
    let f = real!(posix_memalign, PosixMemalignFn, return libc::ENOMEM);
    let mut rc = 0;
    let p = allocation(OP_MEMALIGN, size as u64, align as u64, || {
        let mut p = null_mut();
        rc = f(&mut p, align, size);
        if rc == 0 {
            p
        } else {
            null_mut()
        }
    });
    if rc == 0 {
        *out = p;
    }
    rc
}

fn page_size() -> usize {
    // SAFETY: sysconf takes a constant.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as usize
}

#[no_mangle]
pub unsafe extern "C" fn valloc(size: size_t) -> *mut c_void {
    if !ready() {
        return boot_alloc(size, page_size());
    }
    let f = real!(valloc, MallocFn, return null_mut());
    allocation(OP_MEMALIGN, size as u64, page_size() as u64, || f(size))
}

#[no_mangle]
pub unsafe extern "C" fn pvalloc(size: size_t) -> *mut c_void {
    let page = page_size();
    // pvalloc rounds the request up to whole pages: that is what the program gets. A size
    // within a page of 2^64 cannot be rounded: it fails, recorded as the size asked for.
    let rounded = size.checked_next_multiple_of(page);
    if !ready() {
        return match rounded {
            Some(rounded) => boot_alloc(rounded, page),
            None => null_mut(),
        };
    }
    let f = real!(pvalloc, MallocFn, return null_mut());
    allocation(OP_MEMALIGN, rounded.unwrap_or(size) as u64, page as u64, || f(size))
}

#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> size_t {
    if p.is_null() {
        return 0;
    }
    if is_bootstrap(p) {
        return boot_size(p);
    }
    if !ready() {
        return 0;
    }
    let f = real!(usable_size, UsableSizeFn, return 0);
    f(p)
}

unsafe fn exit_now(status: c_int) -> ! {
    finish();
    let f = real!(exit, ExitFn, {
        libc::syscall(libc::SYS_exit_group, status);
        loop {
            core::hint::spin_loop();
        }
    });
    f(status)
}

#[no_mangle]
pub unsafe extern "C" fn _exit(status: c_int) -> ! {
    exit_now(status)
}

#[no_mangle]
pub unsafe extern "C" fn _Exit(status: c_int) -> ! {
    exit_now(status)
}

// ---------------------------------------------------------------- exec

extern "C" {
    static environ: Strings;
}

/// Whether the environment `envp` records the program it is given to: `LD_PRELOAD` names the
/// interposer, `REPLAY_RECORD_FILE` names our file and `REPLAY_RECORD_PARENT` is set.
unsafe fn env_records(envp: Strings) -> bool {
    let (mut preload, mut file, mut parent) = (false, false, false);
    if envp.is_null() {
        return false;
    }
    let path = core::ffi::CStr::from_ptr(PATH.0.get().cast()).to_bytes();
    // A process other than the one `replay record` started writes its own file, and records
    // only while the tree is followed.
    let other = !TOP.load(Relaxed);
    let mut dir = false;
    let mut at = envp;
    while !(*at).is_null() {
        let entry = core::ffi::CStr::from_ptr(*at).to_bytes();
        if let Some(value) = entry.strip_prefix(b"LD_PRELOAD=") {
            preload = value.windows(INTERPOSER.len()).any(|w| w == INTERPOSER);
        } else if let Some(value) = entry.strip_prefix(b"REPLAY_RECORD_FILE=") {
            file = value == path || other;
        } else if entry.starts_with(b"REPLAY_RECORD_DIR=") {
            dir = true;
        } else if entry.starts_with(b"REPLAY_RECORD_PARENT=") {
            parent = true;
        }
        at = at.add(1);
    }
    preload && file && parent && (dir || !other)
}

/// This library's file name, as `LD_PRELOAD` names it.
const INTERPOSER: &[u8] = b"libreplay_interposer.so";

/// Before an `exec` of the recorded process: every buffer is written out and the status
/// record says the program `exec`ed, and whether with an environment that records the new
/// program ([`STOP_EXEC`], [`STOP_EXEC_WITHOUT_PRELOAD`]). A new program that records starts
/// the file anew; one that does not leaves the trace whole up to the `exec`, and its cause.
/// True when the status was written (a failed `exec` must then put it back).
unsafe fn before_exec(envp: Strings) -> bool {
    if !RECORDING.load(Acquire) || libc::getpid() != OWNER_PID.load(Relaxed) {
        return false;
    }
    let saved = errno();
    flush_all();
    set_status(if env_records(envp) { STOP_EXEC } else { STOP_EXEC_WITHOUT_PRELOAD }, 0);
    set_errno(saved);
    true
}

/// The `exec` returned (it failed): recording goes on.
unsafe fn exec_failed(stopped: bool) {
    if stopped && RECORDING.load(Acquire) {
        set_status(STOP_NONE, 0);
    }
}

/// The real `exec` function at `slot`, or `ENOSYS` when libc has none.
macro_rules! exec {
    ($slot:ident, $ty:ty, $envp:expr, |$f:ident| $call:expr) => {{
        ready();
        let stopped = before_exec($envp);
        let rc = match REAL.$slot.load(Relaxed) {
            0 => {
                set_errno(libc::ENOSYS);
                -1
            }
            // SAFETY: the address came from dlsym for a function of this signature.
            addr => {
                let $f = core::mem::transmute::<usize, $ty>(addr);
                $call
            }
        };
        let saved = errno();
        exec_failed(stopped);
        set_errno(saved);
        rc
    }};
}

#[no_mangle]
pub unsafe extern "C" fn execve(path: *const c_char, argv: Strings, envp: Strings) -> c_int {
    exec!(execve, ExecveFn, envp, |f| f(path, argv, envp))
}

#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: Strings) -> c_int {
    exec!(execv, ExecvFn, environ, |f| f(path, argv))
}

#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: Strings) -> c_int {
    exec!(execvp, ExecvFn, environ, |f| f(file, argv))
}

#[no_mangle]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: Strings, envp: Strings) -> c_int {
    exec!(execvpe, ExecveFn, envp, |f| f(file, argv, envp))
}

#[no_mangle]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: Strings, envp: Strings) -> c_int {
    exec!(fexecve, FexecveFn, envp, |f| f(fd, argv, envp))
}
