//! Sending the requests of one batch concurrently, and remembering which went out so that the
//! runner's retry of the same batch (told from a new batch by its `BatchKey`) sends only the rest.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Result, bail};
use loong_api::BatchKey;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;

/// Which requests of a batch already went out: accepted, or rejected for good (no retry can fix
/// those, and holding the pipeline for them would stop all delivery).
#[derive(Debug)]
pub struct Progress {
    batch: BatchKey,
    sent: Vec<bool>,
}

impl Progress {
    /// `previous` when it is for `batch` made of the same `len` requests, else a fresh start.
    pub fn resume(previous: Option<Progress>, batch: BatchKey, len: usize) -> Progress {
        match previous {
            Some(p) if p.batch == batch && p.sent.len() == len => p,
            _ => Progress {
                batch,
                sent: vec![false; len],
            },
        }
    }

    /// Whether this is the progress of `batch` (so the runner is retrying it).
    pub fn is_for(&self, batch: BatchKey) -> bool {
        self.batch == batch
    }

    pub fn is_sent(&self, i: usize) -> bool {
        self.sent[i]
    }

    /// The requests not yet sent, in order.
    pub fn pending(&self) -> Vec<usize> {
        (0..self.sent.len()).filter(|&i| !self.sent[i]).collect()
    }

    pub fn mark_sent(&mut self, i: usize) {
        self.sent[i] = true;
    }

    /// `Ok` when nothing `failed`; else keeps this progress in `keep` for the runner's retry and
    /// returns the error, counting the failures out of all the batch's `what` ("requests").
    pub fn finish(self, failed: Vec<String>, keep: &mut Option<Progress>, what: &str) -> Result<()> {
        let Some(last) = failed.last() else {
            return Ok(());
        };
        let (n, total) = (failed.len(), self.sent.len());
        let message = format!("{n} of {total} {what} failed after retries; last error: {last}");
        *keep = Some(self);
        bail!(message)
    }
}

/// Runs `send` on each `(index, item)` as a task on `runtime`, at most `slots` at once, and waits
/// for them all: the outcomes in the items' order, `None` for a task that did not finish (the
/// runtime is shutting down). `who` names the flusher in the warning about such a task.
pub fn send_all<T, R, Fut>(
    runtime: &Handle,
    slots: &Arc<Semaphore>,
    items: Vec<(usize, T)>,
    send: impl Fn(T) -> Fut,
    who: &str,
) -> Vec<(usize, Option<R>)>
where
    Fut: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let indices: Vec<usize> = items.iter().map(|(i, _)| *i).collect();
    let done = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (n, (_, item)) in items.into_iter().enumerate() {
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let sending = send(item);
            tasks.spawn(async move {
                let outcome = sending.await;
                drop(permit);
                (n, outcome)
            });
        }
        let mut out: Vec<Option<R>> = std::iter::repeat_with(|| None).take(indices.len()).collect();
        while let Some(finished) = tasks.join_next().await {
            match finished {
                Ok((n, outcome)) => out[n] = Some(outcome),
                Err(e) => tracing::warn!(error = %e, "{who}: a send task did not finish"),
            }
        }
        out
    });
    indices.into_iter().zip(done).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_of_the_same_batch_resumes_and_a_new_batch_starts_afresh() {
        let (x, y) = ([1u8], [2u8, 3]);
        let (a, b) = (BatchKey::of(&x), BatchKey::of(&y));
        let mut p = Progress::resume(None, a, 3);
        p.mark_sent(1);
        let mut keep = None;
        let err = p.finish(vec!["boom".into()], &mut keep, "requests").unwrap_err();
        assert_eq!(
            err.to_string(),
            "1 of 3 requests failed after retries; last error: boom"
        );
        let p = Progress::resume(keep.take(), a, 3);
        assert!(p.is_for(a));
        assert_eq!(p.pending(), vec![0, 2]);
        assert_eq!(Progress::resume(Some(p), a, 4).pending(), vec![0, 1, 2, 3]);
        let p = Progress::resume(Some(Progress::resume(None, a, 3)), b, 3);
        assert!(p.is_for(b));
        p.finish(Vec::new(), &mut keep, "requests").unwrap();
        assert!(keep.is_none());
    }

    #[test]
    fn sends_everything_at_most_slots_at_once_and_keeps_the_order() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let slots = Arc::new(Semaphore::new(2));
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let items: Vec<(usize, u64)> = (0..6).map(|i| (i * 2, i as u64)).collect();
        let out = send_all(
            runtime.handle(),
            &slots,
            items,
            |v| {
                let running = running.clone();
                async move {
                    let now = running.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10 * (6 - v))).await;
                    running.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    (v, now)
                }
            },
            "test",
        );
        let expected: Vec<usize> = (0..6).map(|i| i * 2).collect();
        assert_eq!(out.iter().map(|(i, _)| *i).collect::<Vec<_>>(), expected);
        for (i, outcome) in out {
            let (v, now) = outcome.expect("finished");
            assert_eq!(v as usize * 2, i);
            assert!(now <= 2, "{now} at once");
        }
    }
}
