//! Dead-letter queues and message move tasks: which queues dead-letter to one, and the tasks
//! that move its messages back (or elsewhere), a step at a time.

use crate::sqs::SqsError;
use crate::sqs::rules;
use crate::sqs::state::{Change, Content, MoveTask, Msg, State, now_ms};
use base64::Engine as _;
use std::sync::Arc;

/// Queues whose redrive policy names `name` as their dead-letter queue.
pub(crate) fn dead_letter_sources(state: &State, name: &str) -> Result<Vec<String>, SqsError> {
    state.queue(name)?;
    Ok(state
        .queues
        .values()
        .filter(|q| {
            q.row
                .config
                .redrive
                .as_ref()
                .is_some_and(|(dlq, _)| dlq == name)
        })
        .map(|q| q.row.name.clone())
        .collect())
}

/// StartMessageMoveTask: checks the source (a dead-letter queue) and destination, and records
/// a RUNNING task for [`move_step`] to carry out; the task handle.
pub(crate) fn start_move(
    state: &mut State,
    source_arn: &str,
    dest_arn: Option<&str>,
    rate: Option<i64>,
) -> Result<String, SqsError> {
    let not_found = || {
        SqsError::ResourceNotFound(format!(
            "The resource that you specified for the SourceArn parameter doesn't exist: {source_arn}"
        ))
    };
    let source_name = rules::queue_name_of_arn(source_arn).ok_or_else(not_found)?;
    let source = state.queue(source_name).map_err(|_| not_found())?;
    let to_move = source.messages.len() as i64;
    if dead_letter_sources(state, source_name)?.is_empty() {
        return Err(SqsError::InvalidParameterValue(format!(
            "Source queue must be configured as a Dead Letter Queue: {source_arn}"
        )));
    }
    if let Some(arn) = dest_arn {
        let missing =
            || SqsError::ResourceNotFound(format!("The destination queue does not exist: {arn}"));
        let name = rules::queue_name_of_arn(arn).ok_or_else(missing)?;
        state.queue(name).map_err(|_| missing())?;
    }
    if state
        .move_tasks
        .iter()
        .any(|t| t.source_arn == source_arn && t.status == "RUNNING")
    {
        return Err(SqsError::InvalidParameterValue(format!(
            "There is already a message move task running for {source_arn}: only one can run per queue."
        )));
    }
    let handle = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "{}:{}",
        uuid::Uuid::new_v4(),
        source_arn
    ));
    let task = MoveTask {
        handle: handle.clone(),
        source_arn: source_arn.to_owned(),
        dest_arn: dest_arn.map(str::to_owned),
        rate,
        moved: 0,
        to_move,
        status: "RUNNING".into(),
        started_ms: now_ms(),
    };
    state.log.push(Change::PutMoveTask(task.clone()));
    state.move_tasks.push(task);
    Ok(handle)
}

/// What one step of a move task did.
#[derive(Debug, Default)]
pub(crate) struct MoveStep {
    /// Queues that received messages.
    pub(crate) targets: Vec<String>,
    /// The task is no longer running (completed, cancelled, or its queue is gone).
    pub(crate) finished: bool,
}

impl MoveStep {
    /// A step that found the task no longer running.
    fn done() -> Self {
        MoveStep {
            finished: true,
            ..MoveStep::default()
        }
    }
}

/// Moves up to `max` more messages of a running task, oldest first, each to the task's
/// destination or back to the queue it was dead-lettered from; the task completes when it has
/// moved what was there at its start (or nothing movable is left).
pub(crate) fn move_step(state: &mut State, handle: &str, max: usize) -> MoveStep {
    let Some(at) = state.move_tasks.iter().position(|t| t.handle == handle) else {
        return MoveStep::done();
    };
    let task = state.move_tasks[at].clone();
    if task.status != "RUNNING" {
        return MoveStep::done();
    }
    let dest = task
        .dest_arn
        .as_deref()
        .and_then(rules::queue_name_of_arn)
        .map(str::to_owned);
    let source_name = rules::queue_name_of_arn(&task.source_arn).unwrap_or_default();
    if !state.queues.contains_key(source_name)
        || dest.as_ref().is_some_and(|d| !state.queues.contains_key(d))
    {
        // A queue of the task is gone.
        let task = &mut state.move_tasks[at];
        task.status = "FAILED".into();
        state.log.push(Change::PutMoveTask(task.clone()));
        return MoveStep::done();
    }
    let want = usize::try_from(task.to_move - task.moved)
        .unwrap_or(0)
        .min(max);
    let plan = move_plan(state, source_name, dest.as_deref(), want);
    let now = now_ms();
    let mut step = MoveStep::default();
    let mut moved = 0i64;
    for (old, target) in &plan {
        let Some(msg) = state.queues.get_mut(source_name).and_then(|q| q.take(*old)) else {
            continue;
        };
        let seq = state.seq();
        let msg = Msg {
            content: Arc::new(Content {
                sent_ms: now,
                ..(*msg.content).clone()
            }),
            visible_ms: now,
            receives: 0,
            first_ms: None,
            receipt: 0,
            received_ms: 0,
            dead_from: None,
        };
        let Some(queue) = state.queues.get_mut(target) else {
            continue;
        };
        let id = queue.row.id;
        queue.put(seq, msg.clone());
        state.log.push(Change::DeleteMessage(*old));
        state.log.push(Change::PutMessage {
            queue: id,
            seq,
            msg,
        });
        moved += 1;
        if !step.targets.contains(target) {
            step.targets.push(target.clone());
        }
    }
    let task = &mut state.move_tasks[at];
    task.moved += moved;
    if task.moved >= task.to_move || usize::try_from(moved).unwrap_or(0) < want || want == 0 {
        task.status = "COMPLETED".into();
        step.finished = true;
    }
    state.log.push(Change::PutMoveTask(task.clone()));
    step
}

/// Up to `want` messages of `source`, oldest first, each with the queue it moves to: `dest`,
/// or the queue it was dead-lettered from; messages whose queue is gone stay.
fn move_plan(state: &State, source: &str, dest: Option<&str>, want: usize) -> Vec<(i64, String)> {
    let Some(source) = state.queues.get(source) else {
        return Vec::new();
    };
    source
        .messages
        .iter()
        .filter_map(|(&seq, m)| {
            let target = match (
                dest,
                m.dead_from.as_deref().and_then(rules::queue_name_of_arn),
            ) {
                (Some(d), _) if state.queues.contains_key(d) => d.to_owned(),
                (None, Some(origin)) if state.queues.contains_key(origin) => origin.to_owned(),
                _ => return None,
            };
            Some((seq, target))
        })
        .take(want)
        .collect()
}

/// CancelMessageMoveTask: stops a running task; how many it had moved.
pub(crate) fn cancel_move(state: &mut State, handle: &str) -> Result<i64, SqsError> {
    let task = state
        .move_tasks
        .iter_mut()
        .find(|t| t.handle == handle && t.status == "RUNNING")
        .ok_or_else(|| {
            SqsError::ResourceNotFound(format!(
                "Task {handle} is not running: only a RUNNING message move task can be cancelled."
            ))
        })?;
    task.status = "CANCELLED".into();
    let (moved, task) = (task.moved, task.clone());
    state.log.push(Change::PutMoveTask(task));
    Ok(moved)
}

/// The message move tasks of a source, newest first.
pub(crate) fn move_tasks(state: &State, source_arn: &str, max: i64) -> Vec<serde_json::Value> {
    state
        .move_tasks
        .iter()
        .rev()
        .filter(|t| t.source_arn == source_arn)
        .take(usize::try_from(max).unwrap_or(0))
        .map(|t| {
            let mut v = serde_json::json!({
                "TaskHandle": t.handle,
                "Status": t.status,
                "SourceArn": t.source_arn,
                "ApproximateNumberOfMessagesMoved": t.moved,
                "ApproximateNumberOfMessagesToMove": t.to_move,
                "StartedTimestamp": t.started_ms,
            });
            if let Some(d) = &t.dest_arn {
                v["DestinationArn"] = d.clone().into();
            }
            if let Some(rate) = t.rate {
                v["MaxNumberOfMessagesPerSecond"] = rate.into();
            }
            v
        })
        .collect()
}
