//! Answers too large (or endless) to hold: a JSON text cut open inside one of its strings,
//! with filler words made piece by piece as the client reads them, so that the server's
//! memory stays the same whatever the size or the duration of the answer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Bytes;
use futures_util::Stream;

use super::app::InFlight;

/// Bytes of filler sent as one body frame.
const PIECE_BYTES: usize = 16 * 1024;
/// Filler text: one word repeated; plain ASCII, so it needs no escaping inside a JSON string.
const WORD: &str = " more";

/// Words to put inside a JSON string, a piece at a time: a fixed number of bytes, or no end.
pub(crate) struct Filler {
    piece: Bytes,
    left: Option<usize>,
}

impl Filler {
    pub fn sized(bytes: usize) -> Self {
        Self { piece: piece(), left: Some(bytes) }
    }

    pub fn endless() -> Self {
        Self { piece: piece(), left: None }
    }

    /// The next piece, or `None` once the size is reached.
    pub fn next_piece(&mut self) -> Option<Bytes> {
        match &mut self.left {
            None => Some(self.piece.clone()),
            Some(0) => None,
            Some(left) => {
                let n = (*left).min(self.piece.len());
                *left -= n;
                Some(self.piece.slice(..n))
            }
        }
    }
}

fn piece() -> Bytes {
    Bytes::from(WORD.repeat(PIECE_BYTES / WORD.len()))
}

/// Cuts a serialized JSON answer just inside the opening quote of its answer text (`content`
/// of a chat message, `text` of a completion), or of its `id` when there is no text (a tool
/// call): whatever is put between the two halves lands inside that string.
pub(crate) fn split_in_text(json: &str) -> (Bytes, Bytes) {
    let at = ["\"content\":\"", "\"text\":\"", "\"id\":\""]
        .iter()
        .find_map(|key| json.find(key).map(|i| i + key.len()))
        .unwrap_or(0);
    let (head, tail) = json.split_at(at);
    (Bytes::copy_from_slice(head.as_bytes()), Bytes::copy_from_slice(tail.as_bytes()))
}

/// A body made of `head`, the filler, then `tail` (never sent when the filler is endless).
pub(crate) struct SplicedBody {
    head: Option<Bytes>,
    filler: Filler,
    tail: Option<Bytes>,
    _in_flight: InFlight,
}

impl SplicedBody {
    pub fn new(head: Bytes, filler: Filler, tail: Bytes, in_flight: InFlight) -> Self {
        Self { head: Some(head), filler, tail: Some(tail), _in_flight: in_flight }
    }
}

impl Stream for SplicedBody {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let next = this.head.take().or_else(|| this.filler.next_piece()).or_else(|| this.tail.take());
        Poll::Ready(next.map(Ok))
    }
}
