//! The Block1/Block2 option value (RFC 7959 §2.2).
//!
//! coap-lite's `BlockValue` stores the block number in a `u16`; the RFC allows 20 bits, and a
//! peer may send any three-byte value, so SEAM decodes the option itself and rejects what does
//! not fit instead of truncating it.

/// Smallest block size RFC 7959 allows (SZX 0).
pub const MIN_BLOCK_SIZE: usize = 16;
/// Largest block size RFC 7959 allows (SZX 6; SZX 7 is reserved).
pub const MAX_BLOCK_SIZE: usize = 1024;

/// One decoded Block1 or Block2 option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// The block number (NUM, up to 2^20 - 1).
    pub num: u32,
    /// Whether more blocks follow (M).
    pub more: bool,
    /// The size exponent (SZX): the block holds `2^(szx + 4)` bytes.
    pub szx: u8,
}

impl Block {
    /// The largest block number the option can carry.
    pub const MAX_NUM: u32 = (1 << 20) - 1;

    /// A block of `size` bytes (rounded down to a power of two in 16..=1024).
    pub fn new(num: u32, more: bool, size: usize) -> Self {
        Self {
            num,
            more,
            szx: szx_for(size),
        }
    }

    /// Size of the block in bytes.
    pub fn size(self) -> usize {
        1usize << (self.szx + 4)
    }

    /// Byte offset of the block in the whole body.
    pub fn offset(self) -> usize {
        self.num as usize * self.size()
    }

    /// Decodes an option value (0 to 3 bytes, big-endian); `None` for a malformed value.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() > 3 {
            return None;
        }
        let raw = bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        let szx = (raw & 0x7) as u8;
        if szx == 7 {
            return None;
        }
        Some(Self {
            num: raw >> 4,
            more: raw & 0x8 != 0,
            szx,
        })
    }

    /// Encodes the option value in the fewest bytes.
    pub fn encode(self) -> Vec<u8> {
        let raw = (self.num.min(Self::MAX_NUM) << 4) | (u32::from(self.more) << 3) | u32::from(self.szx & 0x7);
        let bytes = raw.to_be_bytes();
        let skip = bytes.iter().take(3).take_while(|b| **b == 0).count();
        if raw == 0 {
            Vec::new()
        } else {
            bytes[skip..].to_vec()
        }
    }
}

/// The SZX for a block size, rounding down into the allowed range.
pub fn szx_for(size: usize) -> u8 {
    let size = size.clamp(MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
    // floor(log2(size)) - 4, in 0..=6.
    (usize::BITS - 1 - size.leading_zeros()) as u8 - 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_size_and_large_numbers() {
        for size in [16, 32, 64, 128, 256, 512, 1024] {
            for num in [0, 1, 15, 16, 4095, 4096, Block::MAX_NUM] {
                for more in [false, true] {
                    let b = Block::new(num, more, size);
                    assert_eq!(b.size(), size);
                    assert_eq!(Block::decode(&b.encode()), Some(b));
                }
            }
        }
    }

    #[test]
    fn rejects_reserved_size_and_long_values() {
        assert_eq!(Block::decode(&[0x07]), None);
        assert_eq!(Block::decode(&[1, 2, 3, 4]), None);
        assert_eq!(Block::decode(&[]), Some(Block::new(0, false, 16)));
    }

    #[test]
    fn sizes_round_down_into_range() {
        assert_eq!(szx_for(1), 0);
        assert_eq!(szx_for(1000), 5);
        assert_eq!(szx_for(1 << 20), 6);
    }
}
