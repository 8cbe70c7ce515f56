//! [`SecretBytes`]: bytes that zeroize on drop and never print.

use std::fmt;

use zeroize::Zeroize;

/// Secret bytes: key material, plaintext, derived keys, shared secrets.
///
/// The buffer (its whole capacity) is zeroized on drop, `Debug` shows no
/// content, and equality is checked in constant time.
/// The bytes are read only through [`SecretBytes::expose`], a name meant to
/// stand out in review.
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes`.
    ///
    /// Copies made before this call (for example by a growing `Vec`) are not
    /// the buffer's to clean; build secrets in a buffer of the right capacity.
    #[must_use]
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret buffer.
    #[must_use]
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// `len` zero bytes, to be filled in place.
    pub(crate) fn zeroed(len: usize) -> Self {
        Self(vec![0; len])
    }

    /// The secret bytes.
    #[must_use]
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub(crate) fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Shortens the buffer in place, without reallocating.
    pub(crate) fn truncate(&mut self, len: usize) {
        // Zeroize the tail first: `Vec::truncate` leaves it in the capacity.
        if let Some(tail) = self.0.get_mut(len..) {
            tail.zeroize();
        }
        self.0.truncate(len);
    }

    /// The number of bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }
}

impl Eq for SecretBytes {}

impl Clone for SecretBytes {
    fn clone(&self) -> Self {
        Self::copy_from(&self.0)
    }
}
