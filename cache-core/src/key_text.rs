//! The text of a key while it is rendered: on the stack up to [`INLINE`] bytes, so that rendering
//! the key of an L1 hit allocates nothing; a longer text moves to the heap.

use std::fmt;

/// Bytes a key may have before its text moves to the heap: keys of `#[cached]` functions are
/// rarely longer (the default key is module path, function name and arguments).
pub(crate) const INLINE: usize = 120;

/// Growable text, inline first. Every byte written comes from a `&str` or is ASCII, so the bytes
/// are always valid UTF-8.
#[derive(Clone)]
pub(crate) struct KeyText {
    /// Length of the inline text, or [`SPILLED`].
    len: usize,
    inline: [u8; INLINE],
    /// The whole text once it outgrew `inline` (empty, unallocated, until then).
    heap: Vec<u8>,
}

/// `len` of a text on the heap: over [`INLINE`], so a push's one bounds check sends it to the
/// heap path.
const SPILLED: usize = INLINE + 1;

impl KeyText {
    #[inline]
    pub(crate) fn new() -> Self {
        KeyText {
            len: 0,
            inline: [0; INLINE],
            heap: Vec::new(),
        }
    }

    /// Empty text that will hold about `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let mut text = KeyText::new();
        if capacity > INLINE {
            text.heap = Vec::with_capacity(capacity);
            text.len = SPILLED;
        }
        text
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self.inline.get(..self.len) {
            Some(text) => text,
            None => &self.heap,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        if self.len <= INLINE {
            self.len
        } else {
            self.heap.len()
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        match self.inline.get_mut(self.len..end) {
            Some(dst) => {
                copy_short(dst, bytes);
                self.len = end;
            }
            None => self.push_on_heap(bytes),
        }
    }

    #[cold]
    fn push_on_heap(&mut self, bytes: &[u8]) {
        self.spill(self.len() + bytes.len());
        self.heap.extend_from_slice(bytes);
    }

    /// Cuts the text back to `len` bytes (a length it had before).
    pub(crate) fn truncate(&mut self, len: usize) {
        if self.len <= INLINE {
            self.len = self.len.min(len);
        } else {
            self.heap.truncate(len);
        }
    }

    /// The text grown to `len` bytes (the new bytes are zeros), for rewriting in place.
    pub(crate) fn grow_to(&mut self, len: usize) -> &mut [u8] {
        if len > INLINE {
            self.spill(len);
        }
        if self.len <= INLINE {
            if len > self.len {
                self.inline[self.len..len].fill(0);
            }
            self.len = len;
            &mut self.inline[..len]
        } else {
            self.heap.resize(len, 0);
            &mut self.heap
        }
    }

    /// Replaces the whole text.
    pub(crate) fn replace(&mut self, text: String) {
        self.heap = text.into_bytes();
        self.len = SPILLED;
    }

    /// Moves the inline text to the heap, with room for `capacity` bytes (nothing to do once
    /// there).
    fn spill(&mut self, capacity: usize) {
        if self.len <= INLINE {
            let mut heap = Vec::with_capacity(capacity.max(2 * INLINE));
            heap.extend_from_slice(&self.inline[..self.len]);
            self.heap = heap;
            self.len = SPILLED;
        }
    }

    /// The text as a `String`.
    pub(crate) fn to_string_lossless(&self) -> String {
        match std::str::from_utf8(self.as_bytes()) {
            Ok(s) => s.to_owned(),
            // Cannot happen (every byte came from a `str` or is ASCII); kept total.
            Err(_) => String::from_utf8_lossy(self.as_bytes()).into_owned(),
        }
    }
}

/// `dst.copy_from_slice(src)` for slices of the same length, without a call to `memcpy` for the
/// short ones a key is made of (a namespace, a number): two overlapping fixed-size moves.
#[inline]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n != dst.len() {
        return;
    }
    match n {
        0 => {}
        1..=3 => {
            dst[0] = src[0];
            dst[n / 2] = src[n / 2];
            dst[n - 1] = src[n - 1];
        }
        4..=7 => {
            dst[..4].copy_from_slice(&src[..4]);
            dst[n - 4..].copy_from_slice(&src[n - 4..]);
        }
        8..=16 => {
            dst[..8].copy_from_slice(&src[..8]);
            dst[n - 8..].copy_from_slice(&src[n - 8..]);
        }
        _ => dst.copy_from_slice(src),
    }
}

impl fmt::Write for KeyText {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

impl fmt::Debug for KeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(self.as_bytes()), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_moves_to_the_heap_past_the_inline_size_and_keeps_every_byte() {
        let mut t = KeyText::new();
        let mut want = Vec::new();
        for i in 0..50u8 {
            let chunk = [b'a' + (i % 26); 7];
            t.push(&chunk);
            want.extend_from_slice(&chunk);
            assert_eq!(t.as_bytes(), &want[..]);
            assert_eq!(t.len(), want.len());
        }
        assert_eq!(t.len, SPILLED);
        t.truncate(3);
        assert_eq!(t.as_bytes(), &want[..3]);
    }

    #[test]
    fn short_copies_copy_every_length() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut dst = vec![0u8; n];
            copy_short(&mut dst, &src[..n]);
            assert_eq!(dst, &src[..n], "{n} bytes");
        }
    }

    #[test]
    fn grow_to_extends_inline_and_on_the_heap() {
        let mut t = KeyText::new();
        t.push(b"ab");
        let bytes = t.grow_to(4);
        bytes[2..].copy_from_slice(b"cd");
        assert_eq!(t.as_bytes(), b"abcd");
        let bytes = t.grow_to(INLINE + 2);
        assert_eq!(bytes.len(), INLINE + 2);
        assert_eq!(&t.as_bytes()[..4], b"abcd");
        assert_eq!(t.len(), INLINE + 2);
    }
}
