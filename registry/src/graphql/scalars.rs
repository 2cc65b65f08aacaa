//! The schema's own scalar: `Long`, for byte counts and MACs.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// A non-negative integer too large for GraphQL's 32-bit `Int` (byte counts, MACs): a JSON number,
/// exact up to 2^53.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Long(pub u64);

#[Scalar(name = "Long")]
impl ScalarType for Long {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_u64()
                .filter(|v| *v <= (1 << 53))
                .map(Long)
                .ok_or_else(|| InputValueError::custom("expected a non-negative integer up to 2^53")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_are_non_negative_and_exact_in_json() {
        assert_eq!(Long::parse(Value::from(1_u64 << 53)).unwrap(), Long(1 << 53));
        assert!(
            Long::parse(Value::from((1_u64 << 53) + 1)).is_err(),
            "past 2^53 a JSON number is not exact"
        );
        assert!(Long::parse(Value::from(-1)).is_err());
        assert!(Long::parse(Value::from("12")).is_err());
        assert_eq!(Long(7).to_value(), Value::from(7));
    }
}
