//! Answers, and their RESP3 frames (redis-protocol's, encoded by its codec).

use bytes::Bytes;
use redis_protocol::resp3::types::BytesFrame;

/// An answer to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok,
    Simple(String),
    Bulk(Bytes),
    Integer(i64),
    Null,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Error(String),
}

impl Reply {
    /// A count, as an integer reply.
    pub fn count(count: usize) -> Self {
        Self::Integer(i64::try_from(count).unwrap_or(i64::MAX))
    }

    /// The frame that carries it.
    pub fn frame(&self) -> BytesFrame {
        match self {
            Self::Ok => BytesFrame::SimpleString { data: Bytes::from_static(b"OK"), attributes: None },
            Self::Simple(text) => BytesFrame::SimpleString { data: Bytes::from(text.clone()), attributes: None },
            Self::Bulk(data) => BytesFrame::BlobString { data: data.clone(), attributes: None },
            Self::Integer(value) => BytesFrame::Number { data: *value, attributes: None },
            Self::Null => BytesFrame::Null,
            Self::Array(items) => BytesFrame::Array { data: items.iter().map(Self::frame).collect(), attributes: None },
            Self::Map(pairs) => BytesFrame::Map {
                data: pairs.iter().map(|(key, value)| (key.frame(), value.frame())).collect(),
                attributes: None,
            },
            Self::Error(message) => BytesFrame::SimpleError { data: message.as_str().into(), attributes: None },
        }
    }

    /// A short form for the trace.
    pub fn brief(&self) -> String {
        match self {
            Self::Ok => "OK".to_owned(),
            Self::Simple(text) => text.clone(),
            Self::Bulk(data) => format!("\"{}\"", short(data)),
            Self::Integer(value) => value.to_string(),
            Self::Null => "(nil)".to_owned(),
            Self::Array(items) => format!("[{}]", items.iter().map(Self::brief).collect::<Vec<_>>().join(", ")),
            Self::Map(pairs) => format!("{{{} fields}}", pairs.len()),
            Self::Error(message) => format!("-{message}"),
        }
    }
}

/// Text of at most 40 characters on one line, for the trace.
pub fn short(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data).replace(['\n', '\r'], " ");
    let text = text.trim();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text.to_owned()
    }
}
