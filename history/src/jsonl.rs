//! Histories as JSON lines: one operation per line, in index order.

use std::io::{BufRead, Write};

use crate::op::{Op, OpType};

/// Why a history cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read the history: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: String },
    #[error("the history is empty")]
    Empty,
}

/// Reads a history: every non-empty line an operation, indices from 0 in order, and no process
/// with two operations open at once.
pub fn read(input: impl BufRead) -> Result<Vec<Op>, ReadError> {
    let mut ops: Vec<Op> = Vec::new();
    let mut open = std::collections::HashMap::new();
    for (number, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let at = |problem: String| ReadError::Line { line: number + 1, problem };
        let op: Op = serde_json::from_str(&line).map_err(|error| at(error.to_string()))?;
        if op.index != ops.len() as u64 {
            return Err(at(format!("index {} where {} comes next", op.index, ops.len())));
        }
        if let Some(last) = ops.last()
            && op.time < last.time
        {
            return Err(at(format!("time {} is before the previous operation's {}", op.time, last.time)));
        }
        let opened = open.insert(op.process, op.index);
        match (op.kind, opened) {
            (OpType::Invoke, Some(earlier)) => {
                return Err(at(format!("process {} invokes while operation {earlier} is open", op.process)));
            }
            (OpType::Invoke, None) => {}
            (_, None) => {
                return Err(at(format!("process {} completes an operation it never invoked", op.process)));
            }
            (_, Some(_)) => {
                open.remove(&op.process);
            }
        }
        ops.push(op);
    }
    if ops.is_empty() { Err(ReadError::Empty) } else { Ok(ops) }
}

/// Writes `ops`, one per line.
pub fn write(ops: &[Op], mut output: impl Write) -> std::io::Result<()> {
    for op in ops {
        serde_json::to_writer(&mut output, op)?;
        output.write_all(b"\n")?;
    }
    output.flush()
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::op::{Function, Value};

    #[test]
    fn a_history_survives_writing_and_reading() {
        let ops = vec![
            Op { index: 0, process: 1, kind: OpType::Invoke, f: Function::Read, value: Value::default(), time: 5 },
            Op {
                index: 1,
                process: 1,
                kind: OpType::Ok,
                f: Function::Read,
                value: Value { id: Some("u".into()), found: Some(false), ..Value::default() },
                time: 9,
            },
        ];
        let mut text = Vec::new();
        write(&ops, &mut text).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&text).lines().nth(1).unwrap(),
            r#"{"index":1,"process":1,"type":"ok","f":"read","value":{"id":"u","found":false},"time":9}"#
        );
        assert_eq!(read(&text[..]).unwrap(), ops);
    }

    #[rstest]
    #[case::not_json("{", "line 1: EOF while parsing")]
    #[case::unknown_type(
        r#"{"index":0,"process":1,"type":"maybe","f":"read","value":{},"time":1}"#,
        "line 1: unknown variant `maybe`"
    )]
    #[case::index_out_of_order(
        r#"{"index":3,"process":1,"type":"invoke","f":"read","value":{},"time":1}"#,
        "line 1: index 3 where 0 comes next"
    )]
    #[case::completion_without_invoke(
        r#"{"index":0,"process":1,"type":"ok","f":"read","value":{},"time":1}"#,
        "line 1: process 1 completes an operation it never invoked"
    )]
    #[case::empty("\n\n", "the history is empty")]
    fn a_history_that_cannot_be_read_says_where(#[case] text: &str, #[case] expected: &str) {
        let error = read(text.as_bytes()).unwrap_err().to_string();
        assert!(error.starts_with(expected), "{error}");
    }
}
