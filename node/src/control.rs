//! Requests into the worker threads. Each worker owns its engine; the rest
//! of the node (the admin API, the metrics exporter, policy swaps, table
//! dumps) never locks it. Instead it queues a job that the worker runs
//! between two packet batches — so the job sees the engine between two
//! packets, never in the middle of one — and waits for the answers.
//!
//! [`Workers`] is the node's one engine pool: it implements the ops side's
//! [`EnginePool`] seam itself, and a job sees its worker as the seam's
//! [`WorkerView`]. This module names no other module of the node, so
//! everything that reaches the engines (`admin`, `clear_rpc`,
//! `policy_raft`, `run`) depends on it and none on another.

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use rampart_dataplane::counters::BridgeCounters;
use rampart_dataplane::{Engine, Instant};
use rampart_ops::pool::{EnginePool, PoolError, WorkerView};

/// Jobs queued per worker before [`Workers::each`] refuses more (the
/// worker serves its queue every batch, so a full queue means it is stuck).
pub const CONTROL_QUEUE_JOBS: usize = 64;

/// A job: what it sees of its worker is a [`WorkerView`] whose `io` is
/// always there and whose `worker` is the fanout member index.
type Job = Box<dyn FnOnce(&mut WorkerView<'_>) + Send>;

/// Why a request to the workers failed (a local fault).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    /// The worker thread has stopped.
    #[error("worker {0} has stopped")]
    Stopped(usize),
    /// The worker's queue is full: it has not served requests for a while.
    #[error("worker {0} is not serving requests (queue of {CONTROL_QUEUE_JOBS} full)")]
    Busy(usize),
    /// The worker did not answer in time.
    #[error("worker {0} did not answer within {1:?}")]
    Timeout(usize, Duration),
}

/// A worker's wake-up descriptor (an eventfd): written when something is
/// queued for it, polled by its bridge beside the data sockets.
#[derive(Debug, Clone)]
pub struct Wake(Arc<OwnedFd>);

impl Wake {
    /// A new eventfd.
    pub fn new() -> std::io::Result<Self> {
        // SAFETY: eventfd has no memory preconditions; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Wake(Arc::new(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Wake the worker.
    pub fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes from a valid buffer to our eventfd.
        unsafe { libc::write(self.0.as_raw_fd(), one.as_ptr().cast(), 8) };
    }

    /// The descriptor, for poll(2).
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// How long a worker spends on jobs between two packet batches, at most,
/// before it goes back to its packets; it always runs one. A slice of a
/// table walk takes longer than this by itself, so a batch waits for one
/// slice at most, however many walks have queued theirs (docs/ops.md §2).
pub const JOBS_PER_TURN: Duration = Duration::from_micros(500);

/// The worker's end: jobs to run.
pub struct Inbox {
    rx: mpsc::Receiver<Job>,
    /// A job taken from the queue but left for the next turn.
    next: Option<Job>,
    worker: usize,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("worker", &self.worker)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// Run queued jobs until [`JOBS_PER_TURN`] is spent (at least one);
    /// whether some are left, for the next turn (the caller wakes itself,
    /// so that an idle worker does not sleep on them).
    pub fn serve(&mut self, engine: &mut Engine, io: &BridgeCounters, now: Instant) -> bool {
        let Some(mut job) = self.next.take().or_else(|| self.rx.try_recv().ok()) else {
            return false;
        };
        let start = std::time::Instant::now();
        loop {
            job(&mut WorkerView {
                engine,
                io: Some(io),
                now,
                worker: self.worker,
            });
            match self.rx.try_recv() {
                Err(_) => return false,
                Ok(more) if start.elapsed() >= JOBS_PER_TURN => {
                    self.next = Some(more);
                    return true;
                }
                Ok(more) => job = more,
            }
        }
    }
}

/// The node's handle on all workers.
#[derive(Debug, Clone)]
pub struct Workers {
    queues: Vec<(mpsc::SyncSender<Job>, Wake)>,
}

/// Make the queues for workers woken by `wakes` (one per worker, in
/// worker order).
pub fn workers(wakes: &[Wake]) -> (Workers, Vec<Inbox>) {
    let mut queues = Vec::with_capacity(wakes.len());
    let mut inboxes = Vec::with_capacity(wakes.len());
    for (worker, wake) in wakes.iter().enumerate() {
        let (tx, rx) = mpsc::sync_channel(CONTROL_QUEUE_JOBS);
        queues.push((tx, wake.clone()));
        inboxes.push(Inbox {
            rx,
            next: None,
            worker,
        });
    }
    (Workers { queues }, inboxes)
}

impl Workers {
    /// How many workers.
    pub fn len(&self) -> usize {
        self.queues.len()
    }

    /// Run `f` on every worker between two batches and return the results
    /// in worker order. Blocks up to `timeout` (call it from a thread that
    /// may block: from tokio, inside `spawn_blocking`). Once the caller has
    /// given up (a timeout, a worker stopped or busy), a job not yet run
    /// does not run: what it would take (connection-log events) or change
    /// (a `clear conn`) is not done behind the back of a caller told it
    /// failed.
    pub fn each<R, F>(&self, timeout: Duration, f: F) -> Result<Vec<R>, ControlError>
    where
        R: Send + 'static,
        F: Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let give_up = |e: ControlError| {
            gone.store(true, std::sync::atomic::Ordering::SeqCst);
            e
        };
        let (tx, rx) = mpsc::channel();
        for (i, (queue, wake)) in self.queues.iter().enumerate() {
            let (f, tx, gone) = (f.clone(), tx.clone(), gone.clone());
            let job: Job = Box::new(move |ctx| {
                if gone.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                // (The caller may give up while `f` runs; then the result
                // is dropped.)
                let _ = tx.send((ctx.worker, f(ctx)));
            });
            queue
                .try_send(job)
                .map_err(|e| match e {
                    mpsc::TrySendError::Full(_) => ControlError::Busy(i),
                    mpsc::TrySendError::Disconnected(_) => ControlError::Stopped(i),
                })
                .map_err(give_up)?;
            wake.wake();
        }
        drop(tx);
        let deadline = std::time::Instant::now() + timeout;
        let mut out: Vec<Option<R>> = (0..self.queues.len()).map(|_| None).collect();
        for _ in 0..self.queues.len() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok((w, r)) => out[w] = Some(r),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let w = out.iter().position(Option::is_none).unwrap_or(0);
                    return Err(give_up(ControlError::Timeout(w, timeout)));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let w = out.iter().position(Option::is_none).unwrap_or(0);
                    return Err(give_up(ControlError::Stopped(w)));
                }
            }
        }
        Ok(out.into_iter().flatten().collect())
    }
}

impl EnginePool for Workers {
    fn workers(&self) -> usize {
        self.len()
    }

    fn each<R: Send + 'static>(
        &self,
        timeout: Duration,
        f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
    ) -> Result<Vec<R>, PoolError> {
        Workers::each(self, timeout, f).map_err(|e| PoolError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_dataplane::EngineConfig;
    use rampart_dataplane::conntrack::NodeId;

    fn engine() -> Engine {
        Engine::new(EngineConfig::inside_outside(NodeId(1), [1, 2, 3, 4])).unwrap()
    }

    #[test]
    fn each_runs_on_every_worker_and_answers_in_worker_order() {
        let wakes: Vec<Wake> = (0..3).map(|_| Wake::new().unwrap()).collect();
        let (w, inboxes) = workers(&wakes);
        let threads: Vec<_> = inboxes
            .into_iter()
            .map(|inbox| {
                std::thread::spawn(move || {
                    let mut inbox = inbox;
                    let mut e = engine();
                    let io = BridgeCounters::default();
                    // Serve until the handle is gone (bounded: 2 s).
                    for _ in 0..2000 {
                        inbox.serve(&mut e, &io, Instant::from_nanos(5));
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        let got = w
            .each(Duration::from_secs(2), |ctx| (ctx.worker, ctx.now))
            .unwrap();
        assert_eq!(
            got,
            vec![
                (0, Instant::from_nanos(5)),
                (1, Instant::from_nanos(5)),
                (2, Instant::from_nanos(5))
            ]
        );
        // The same workers as the ops side's engine pool: every view has
        // its worker's I/O counters.
        assert_eq!(EnginePool::workers(&w), 3);
        let views =
            EnginePool::each(&w, Duration::from_secs(2), |v| (v.worker, v.io.is_some())).unwrap();
        assert_eq!(views, vec![(0, true), (1, true), (2, true)]);
        drop(w);
        for t in threads {
            t.join().unwrap();
        }
    }

    /// A `configure` while one worker stalls past the wait: the policy is
    /// the node's (the answer says it is pending on a worker, the running
    /// config shows it), and the stalled worker takes it once it serves
    /// again, so every worker ends on the policy the running config shows.
    /// A second `configure` during the stall is refused with nothing
    /// changed, and the first one's late job does not undo anything.
    /// (Before, the first answered an error and kept the old running
    /// config, while every worker, the late one included, took the new
    /// policy.)
    #[test]
    fn a_configure_during_a_worker_stall_ends_with_every_worker_on_the_running_policy() {
        use rampart_ops::backend::Backend as _;
        use std::sync::atomic::{AtomicBool, Ordering};
        let wakes: Vec<Wake> = (0..2).map(|_| Wake::new().unwrap()).collect();
        let (w, inboxes) = workers(&wakes);
        let stall = Arc::new(AtomicBool::new(false));
        let stalling = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = inboxes
            .into_iter()
            .enumerate()
            .map(|(i, inbox)| {
                let (stall, stalling, done) = (stall.clone(), stalling.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut inbox = inbox;
                    let mut e = engine();
                    let io = BridgeCounters::default();
                    // Serve until the test is done (bounded: 20 s).
                    for _ in 0..20_000 {
                        if done.load(Ordering::SeqCst) {
                            break;
                        }
                        if i == 1 && stall.swap(false, Ordering::SeqCst) {
                            stalling.store(true, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(4_500));
                        }
                        inbox.serve(&mut e, &io, Instant::from_nanos(5));
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        /// The node's pool, whose worker 1 stalls right before the `n`th
        /// request to all workers (a configure's third: after it read the
        /// interfaces and every worker said the policy fits).
        struct StallBefore {
            inner: Workers,
            n: Arc<std::sync::atomic::AtomicUsize>,
            calls: Arc<std::sync::atomic::AtomicUsize>,
            stall: Arc<AtomicBool>,
            stalling: Arc<AtomicBool>,
        }
        impl EnginePool for StallBefore {
            fn workers(&self) -> usize {
                self.inner.len()
            }
            fn each<R: Send + 'static>(
                &self,
                timeout: Duration,
                f: impl Fn(&mut WorkerView<'_>) -> R + Send + Sync + 'static,
            ) -> Result<Vec<R>, PoolError> {
                if self.calls.fetch_add(1, Ordering::SeqCst) + 1 == self.n.load(Ordering::SeqCst) {
                    self.stalling.store(false, Ordering::SeqCst);
                    self.stall.store(true, Ordering::SeqCst);
                    while !self.stalling.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                EnginePool::each(&self.inner, timeout, f)
            }
        }
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(3));
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let admin = rampart_ops::admin::Admin::new(
            Arc::new(StallBefore {
                inner: w.clone(),
                n: n.clone(),
                calls: calls.clone(),
                stall: stall.clone(),
                stalling: stalling.clone(),
            }),
            Box::new(rampart_ops::model::NodeStatus::default),
        );
        let policy = |max: u32| {
            format!(
                "class-map all\n match any\npolicy-map p\n class all\n  set connection conn-max {max}\nservice-policy p global\n"
            )
        };
        let r = admin.configure(&policy(5)).expect("accepted");
        assert_eq!(r.version, 1);
        assert!(r.pending.is_some(), "{r:?}");
        assert!(admin.running_config().unwrap().text.contains("conn-max 5"));
        // The worker is still stalled: a second write cannot check it, and
        // changes nothing.
        assert!(admin.configure(&policy(6)).is_err());
        assert_eq!(admin.running_config().unwrap().version, 1);
        // Within the stall and a retry or two, every worker runs version 1.
        let conn_max = |w: &Workers| {
            w.each(Duration::from_secs(2), |v| {
                let classes = v.engine.policy().classes();
                (
                    classes.first().map(|c| c.options.conn_max),
                    v.engine.counters().policy_swaps,
                )
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(got) = conn_max(&w)
                && got.iter().all(|&(m, _)| m == Some(5))
            {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{:?}", conn_max(&w));
            std::thread::sleep(Duration::from_millis(50));
        }
        // And stays there: nothing late puts another policy back.
        std::thread::sleep(Duration::from_millis(500));
        let got = conn_max(&w).unwrap();
        assert!(
            got.iter().all(|&(m, swaps)| m == Some(5) && swaps == 1),
            "{got:?}"
        );
        // The cluster's sequence key, given while worker 1 stalls, reaches
        // it from the retry once it serves again.
        n.store(calls.load(Ordering::SeqCst) + 1, Ordering::SeqCst);
        admin
            .set_seq_secret([7, 11])
            .expect("the node's key from now on");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !w
            .each(Duration::from_secs(2), |v| v.engine.config().seq_secret)
            .is_ok_and(|k| k.iter().all(|&k| k == [7, 11]))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the key never reached worker 1"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(admin);
        drop(w);
        done.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn a_worker_that_does_not_serve_times_out_and_a_stopped_one_says_so() {
        let wakes: Vec<Wake> = (0..2).map(|_| Wake::new().unwrap()).collect();
        let (w, mut inboxes) = workers(&wakes);
        let ran = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let r = ran.clone();
        let err = w
            .each(Duration::from_millis(50), move |_| {
                r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
            .unwrap_err();
        assert_eq!(err, ControlError::Timeout(0, Duration::from_millis(50)));
        // Served after the caller gave up, the job does nothing.
        let mut e = engine();
        for inbox in &mut inboxes {
            inbox.serve(&mut e, &BridgeCounters::default(), Instant::from_nanos(5));
        }
        assert_eq!(ran.load(std::sync::atomic::Ordering::SeqCst), 0);
        inboxes.pop();
        let err = w.each(Duration::from_millis(50), |_| ()).unwrap_err();
        assert_eq!(err, ControlError::Stopped(1));
    }

    /// Jobs that each take longer than a turn's allowance run one per turn
    /// (one slice of a walk per packet batch, however many walks queued
    /// theirs); quick ones run together. Before, a worker ran every queued
    /// job in one go, and its packets waited for all of them.
    #[test]
    fn a_worker_runs_one_slow_job_per_turn_and_quick_ones_together() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let wakes = vec![Wake::new().unwrap()];
        let (w, mut inboxes) = workers(&wakes);
        let ran = Arc::new(AtomicUsize::new(0));
        let queue = |n: usize, pause: Duration| {
            for _ in 0..n {
                let ran = ran.clone();
                let job: Job = Box::new(move |_| {
                    std::thread::sleep(pause);
                    ran.fetch_add(1, Ordering::SeqCst);
                });
                w.queues[0].0.try_send(job).unwrap();
            }
        };
        let mut e = engine();
        let io = BridgeCounters::default();
        let mut serve = || inboxes[0].serve(&mut e, &io, Instant::from_nanos(5));
        queue(3, JOBS_PER_TURN * 2);
        assert!(serve(), "two left");
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert!(serve(), "one left");
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert!(!serve(), "none left");
        assert_eq!(ran.load(Ordering::SeqCst), 3);
        assert!(!serve());
        queue(10, Duration::ZERO);
        assert!(!serve());
        assert_eq!(ran.load(Ordering::SeqCst), 13);
    }
}
