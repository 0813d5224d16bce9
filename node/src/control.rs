//! Requests into the worker threads. Each worker owns its engine; the rest
//! of the node (the admin API, the metrics exporter, policy swaps, table
//! dumps) never locks it. Instead it queues a job that the worker runs
//! between two packet batches — so the job sees the engine between two
//! packets, never in the middle of one — and waits for the answers.

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use rampart_dataplane::counters::BridgeCounters;
use rampart_dataplane::{Engine, Instant};

/// Jobs queued per worker before [`Workers::each`] refuses more (the
/// worker serves its queue every batch, so a full queue means it is stuck).
pub const CONTROL_QUEUE_JOBS: usize = 64;

/// What a job sees of its worker.
#[derive(Debug)]
pub struct WorkerCtx<'a> {
    /// The worker's engine.
    pub engine: &'a mut Engine,
    /// The worker's I/O counters.
    pub io: &'a BridgeCounters,
    /// Engine time now.
    pub now: Instant,
    /// The worker's index (its fanout member index).
    pub worker: usize,
}

type Job = Box<dyn FnOnce(&mut WorkerCtx<'_>) + Send>;

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

/// The worker's end: jobs to run.
#[derive(Debug)]
pub struct Inbox {
    rx: mpsc::Receiver<Job>,
    worker: usize,
}

impl Inbox {
    /// Run every queued job.
    pub fn serve(&self, engine: &mut Engine, io: &BridgeCounters, now: Instant) {
        while let Ok(job) = self.rx.try_recv() {
            job(&mut WorkerCtx {
                engine,
                io,
                now,
                worker: self.worker,
            });
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
        inboxes.push(Inbox { rx, worker });
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
    /// may block: from tokio, inside `spawn_blocking`).
    pub fn each<R, F>(&self, timeout: Duration, f: F) -> Result<Vec<R>, ControlError>
    where
        R: Send + 'static,
        F: Fn(&mut WorkerCtx<'_>) -> R + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let (tx, rx) = mpsc::channel();
        for (i, (queue, wake)) in self.queues.iter().enumerate() {
            let (f, tx) = (f.clone(), tx.clone());
            let job: Job = Box::new(move |ctx| {
                // The caller may have given up waiting; that is its business.
                let _ = tx.send((ctx.worker, f(ctx)));
            });
            queue.try_send(job).map_err(|e| match e {
                mpsc::TrySendError::Full(_) => ControlError::Busy(i),
                mpsc::TrySendError::Disconnected(_) => ControlError::Stopped(i),
            })?;
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
                    return Err(ControlError::Timeout(w, timeout));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let w = out.iter().position(Option::is_none).unwrap_or(0);
                    return Err(ControlError::Stopped(w));
                }
            }
        }
        Ok(out.into_iter().flatten().collect())
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
        drop(w);
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn a_worker_that_does_not_serve_times_out_and_a_stopped_one_says_so() {
        let wakes: Vec<Wake> = (0..2).map(|_| Wake::new().unwrap()).collect();
        let (w, mut inboxes) = workers(&wakes);
        let err = w.each(Duration::from_millis(50), |_| ()).unwrap_err();
        assert_eq!(err, ControlError::Timeout(0, Duration::from_millis(50)));
        inboxes.pop();
        let err = w.each(Duration::from_millis(50), |_| ()).unwrap_err();
        assert_eq!(err, ControlError::Stopped(1));
    }
}
