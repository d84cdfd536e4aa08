//! Small value types shared by the codec and the state machine.
//!
//! Each one exists so that a value out of range cannot be built: a VRID of 0,
//! a VRRPv3 interval that does not fit in 12 bits, or a version other than 2
//! or 3. No I/O here.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Virtual Router Identifier, 1..=255 (RFC 3768 §5.3.3, RFC 5798 §5.2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Vrid(u8);

impl Vrid {
    /// `None` for 0, which no router may use.
    pub const fn new(v: u8) -> Option<Self> {
        if v == 0 { None } else { Some(Self(v)) }
    }

    pub const fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Vrid {
    type Error = &'static str;
    fn try_from(v: u8) -> Result<Self, Self::Error> {
        Self::new(v).ok_or("VRID must be 1..=255")
    }
}

impl From<Vrid> for u8 {
    fn from(v: Vrid) -> u8 {
        v.0
    }
}

impl fmt::Display for Vrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// VRRP priority as carried on the wire. Every `u8` is meaningful: 0 means
/// "the master is stopping", 255 means "I own the addresses".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Priority(pub u8);

impl Priority {
    /// RFC 3768 §5.3.4: sent by a master that is giving up the role.
    pub const STOP: Self = Self(0);
    /// keepalived's default for an instance that does not own the addresses.
    pub const DEFAULT: Self = Self(100);
    /// RFC 3768 §5.3.4: the router that owns the virtual addresses.
    pub const OWNER: Self = Self(255);

    pub const fn get(self) -> u8 {
        self.0
    }

    pub const fn is_owner(self) -> bool {
        self.0 == 255
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A time interval in hundredths of a second: the unit of the VRRPv3
/// Max Adver Int field, and fine enough for VRRPv2's whole seconds too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Centisecs(pub u16);

impl Centisecs {
    /// Largest value the 12-bit VRRPv3 field can carry (40.95 s).
    pub const V3_MAX: Self = Self(0x0fff);

    pub const fn from_secs(secs: u8) -> Self {
        Self(secs as u16 * 100)
    }

    pub const fn get(self) -> u16 {
        self.0
    }

    /// Microseconds, the unit keepalived does its timer arithmetic in; using
    /// the same unit keeps our truncations identical to its.
    pub const fn as_micros(self) -> u64 {
        self.0 as u64 * 10_000
    }

    pub const fn as_duration(self) -> Duration {
        Duration::from_micros(self.as_micros())
    }

    /// Whole seconds, if this is a whole number of them that fits the
    /// VRRPv2 8-bit field.
    pub const fn as_v2_secs(self) -> Option<u8> {
        if self.0.is_multiple_of(100) && self.0 / 100 >= 1 && self.0 / 100 <= 255 {
            Some((self.0 / 100) as u8)
        } else {
            None
        }
    }
}

/// Protocol version (RFC 3768 is version 2, RFC 5798 version 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    pub const fn number(self) -> u8 {
        match self {
            Self::V2 => 2,
            Self::V3 => 3,
        }
    }
}

/// Address family of the virtual router (its adverts and its VIPs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Family {
    V4,
    V6,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vrid_rejects_zero() {
        assert_eq!(Vrid::new(0), None);
        assert_eq!(Vrid::new(51).map(Vrid::get), Some(51));
        assert!(serde_json::from_str::<Vrid>("0").is_err());
        assert_eq!(serde_json::from_str::<Vrid>("7").unwrap().get(), 7);
    }

    #[test]
    fn centisecs_conversions() {
        assert_eq!(Centisecs::from_secs(1).as_micros(), 1_000_000);
        assert_eq!(Centisecs(100).as_v2_secs(), Some(1));
        assert_eq!(Centisecs(150).as_v2_secs(), None);
        assert_eq!(Centisecs(25_500).as_v2_secs(), Some(255));
        assert_eq!(Centisecs(25_600).as_v2_secs(), None);
        assert_eq!(Centisecs(0).as_v2_secs(), None);
    }
}
