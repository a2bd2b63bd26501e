//! Reading structured choices out of fuzz bytes: once the bytes run out every read returns
//! zero, so any byte string is a complete input.

/// A cursor over fuzz input.
#[derive(Clone, Debug)]
pub struct Bytes<'a> {
    rest: &'a [u8],
}

impl<'a> Bytes<'a> {
    /// Reads from `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { rest: data }
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte (0 once the input is used up).
    pub fn u8(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, rest)) => {
                self.rest = rest;
                b
            }
            None => 0,
        }
    }

    /// A choice among `n` (> 0) options.
    pub fn below(&mut self, n: u8) -> u8 {
        self.u8() % n
    }

    /// A coin flip.
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Eight bytes as a little-endian number.
    pub fn raw_u64(&mut self) -> u64 {
        let mut word = [0u8; 8];
        for b in &mut word {
            *b = self.u8();
        }
        u64::from_le_bytes(word)
    }

    /// A number where it matters: mostly small (logs in a fuzz run are short), often an edge
    /// (`u64::MAX`, `u64::MAX - 1`, `2^62`), sometimes anything.
    pub fn number(&mut self) -> u64 {
        match self.u8() {
            0..=199 => u64::from(self.u8() % 12),
            200..=214 => u64::MAX,
            215..=224 => u64::MAX - 1,
            225..=234 => 1 << 62,
            _ => self.raw_u64(),
        }
    }

    /// Up to `max` bytes (fewer if the input runs out).
    pub fn take(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.u8()).min(max).min(self.rest.len());
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        taken
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.rest)
    }
}
