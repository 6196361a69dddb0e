//! Requests that arrive together share one store call. A task collects what is
//! queued, at most `max` requests at a time, makes one call for them and answers
//! each request from the call's result. While `in_flight` calls are under way,
//! new requests wait in the queue and the next call takes them all, so a burst
//! costs the database a few statements and a quiet moment costs no waiting.
//!
//! The key loader (`apikeys::cache`) and the once-only JWT ids (`oauth::once`)
//! stand on it.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{StoreError, StoreResult};

type Request<Q, A> = (Q, oneshot::Sender<StoreResult<A>>);

/// A queue in front of one batched store call. Cheap to share behind an `Arc`.
pub struct Batched<Q, A> {
    queue: mpsc::Sender<Request<Q, A>>,
    what: &'static str,
}

impl<Q: Send + 'static, A: Send + 'static> Batched<Q, A> {
    /// Starts the task (needs a tokio runtime). `call` gets the requests of one
    /// batch, in the order they came, and returns one answer for each in the same
    /// order, or one error for them all. `what` names the queue in errors.
    pub fn start<F, Fut>(what: &'static str, max: usize, in_flight: usize, call: F) -> Self
    where
        F: Fn(Vec<Q>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StoreResult<Vec<A>>> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(4 * max);
        tokio::spawn(serve(rx, max.max(1), in_flight.max(1), call));
        Batched { queue: tx, what }
    }

    /// `request`'s answer, from the batch it joins.
    pub async fn call(&self, request: Q) -> StoreResult<A> {
        let stopped = || StoreError::unavailable(&format!("the {} has stopped", self.what));
        let (tx, rx) = oneshot::channel();
        self.queue.send((request, tx)).await.map_err(|_| stopped())?;
        rx.await.unwrap_or_else(|_| Err(stopped()))
    }
}

/// Takes batches off `queue` until every sender is gone, at most `in_flight`
/// calls at once.
async fn serve<Q, A, F, Fut>(
    mut queue: mpsc::Receiver<Request<Q, A>>,
    max: usize,
    in_flight: usize,
    call: F,
) where
    Q: Send + 'static,
    A: Send + 'static,
    F: Fn(Vec<Q>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = StoreResult<Vec<A>>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight));
    loop {
        // A slot first: while every call is under way, requests gather in the queue.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut batch = Vec::with_capacity(max);
        if queue.recv_many(&mut batch, max).await == 0 {
            return;
        }
        let (requests, replies): (Vec<Q>, Vec<_>) = batch.into_iter().unzip();
        let answered = call(requests);
        tokio::spawn(async move {
            answer(answered.await, replies);
            drop(slot);
        });
    }
}

fn answer<A>(answers: StoreResult<Vec<A>>, replies: Vec<oneshot::Sender<StoreResult<A>>>) {
    match answers {
        Ok(answers) if answers.len() == replies.len() => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(Ok(answer));
            }
        }
        Ok(answers) => {
            let e = StoreError::unavailable(&format!(
                "a batched call answered {} of {} requests",
                answers.len(),
                replies.len()
            ));
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_burst_shares_calls_and_each_request_gets_its_own_answer() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let doubled = Arc::new(Batched::start("doubler", 8, 1, move |xs: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(xs.into_iter().map(|x| x * 2).collect())
            }
        }));
        let tasks: Vec<_> = (0..40u32)
            .map(|i| {
                let doubled = doubled.clone();
                tokio::spawn(async move { (i, doubled.call(i).await) })
            })
            .collect();
        for task in tasks {
            let (i, answer) = task.await.unwrap();
            assert_eq!(answer.unwrap(), i * 2);
        }
        let calls = calls.load(Ordering::SeqCst);
        assert!((5..40).contains(&calls), "40 requests in batches of at most 8: {calls} calls");
    }

    #[tokio::test]
    async fn calls_overlap_up_to_the_limit_and_no_further() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (r, m) = (running.clone(), most.clone());
        let slow = Arc::new(Batched::start("slow", 1, 3, move |xs: Vec<u32>| {
            let (r, m) = (r.clone(), m.clone());
            async move {
                let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                r.fetch_sub(1, Ordering::SeqCst);
                Ok(xs)
            }
        }));
        let tasks: Vec<_> = (0..12u32)
            .map(|i| {
                let slow = slow.clone();
                tokio::spawn(async move { slow.call(i).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 3, "three calls at once, never four");
    }

    #[tokio::test]
    async fn an_error_or_a_short_answer_reaches_every_request_of_its_batch() {
        let failing = Batched::start("failing", 4, 1, |_: Vec<u32>| async {
            Err::<Vec<u32>, _>(StoreError::unavailable("down"))
        });
        let chain = |e: StoreError| crate::report::Chain(&e).to_string();
        assert!(chain(failing.call(1).await.unwrap_err()).contains("down"));
        let short = Batched::start("short", 4, 1, |_: Vec<u32>| async { Ok(Vec::<u32>::new()) });
        let e = chain(short.call(1).await.unwrap_err());
        assert!(e.contains("answered 0 of 1"), "{e}");
    }
}
