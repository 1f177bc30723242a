//! The length and SHA-256 of a snapshot's body, taken as its bytes pass through (written to a
//! file, or read from the store), so neither side holds the body whole to check it.

use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Counts and hashes what passes through it.
#[derive(Default)]
struct Tally {
    hasher: Sha256,
    bytes: u64,
}

impl Tally {
    fn add(&mut self, passed: &[u8]) {
        self.hasher.update(passed);
        self.bytes += passed.len() as u64;
    }

    /// (bytes, lowercase hex SHA-256), as a snapshot header holds them.
    fn finish(self) -> (u64, String) {
        (self.bytes, hex::encode(self.hasher.finalize()))
    }
}

/// A reader that counts and hashes what is read through it.
pub struct DigestingReader<R> {
    inner: R,
    tally: Tally,
}

impl<R: Read> DigestingReader<R> {
    pub fn new(inner: R) -> Self {
        DigestingReader { inner, tally: Tally::default() }
    }

    /// (bytes read, lowercase hex SHA-256 of them).
    pub fn finish(self) -> (u64, String) {
        self.tally.finish()
    }
}

impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.tally.add(&buf[..read]);
        Ok(read)
    }
}

/// A writer that counts and hashes what is written through it.
pub struct DigestingWriter<W> {
    inner: W,
    tally: Tally,
}

impl<W: Write> DigestingWriter<W> {
    pub fn new(inner: W) -> Self {
        DigestingWriter { inner, tally: Tally::default() }
    }

    /// (bytes written, lowercase hex SHA-256 of them).
    pub fn finish(self) -> (u64, String) {
        self.tally.finish()
    }
}

impl<W: Write> Write for DigestingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.tally.add(&buf[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Read or written in any pieces, the tally is the length and SHA-256 of the whole.
        #[test]
        fn the_tally_is_of_the_whole(bytes in proptest::collection::vec(any::<u8>(), 0..3000), piece in 1usize..500) {
            let whole = (bytes.len() as u64, hex::encode(Sha256::digest(&bytes)));
            let mut reader = DigestingReader::new(bytes.as_slice());
            let mut buf = vec![0; piece];
            while reader.read(&mut buf).unwrap() > 0 {}
            prop_assert_eq!(reader.finish(), whole.clone());
            let mut writer = DigestingWriter::new(Vec::new());
            for chunk in bytes.chunks(piece) {
                writer.write_all(chunk).unwrap();
            }
            prop_assert_eq!(&writer.inner, &bytes);
            prop_assert_eq!(writer.finish(), whole);
        }
    }
}
