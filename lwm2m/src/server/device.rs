//! What a device says about itself, typed: its Object 3 (Device) as a [`DeviceReport`], and the
//! IPSO sensors its registration announces as [`AnnouncedSensor`]s. Callers never match Object 3
//! resource ids or IPSO object numbers themselves.

use super::{Lwm2mServer, Registration};
use crate::content::{ResourcePath, Value};
use crate::Lwm2mError;

/// The Object 3 resources a report is made of: Manufacturer, Model Number, Serial Number,
/// Firmware Version, Memory Free, Memory Total.
const OBJECT3_RESOURCES: [u16; 6] = [0, 1, 2, 3, 10, 21];

/// What a device said of itself in Object 3.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// /3/0/0.
    pub manufacturer: Option<String>,
    /// /3/0/1.
    pub model_number: Option<String>,
    /// /3/0/2.
    pub serial_number: Option<String>,
    /// /3/0/3.
    pub firmware_version: Option<String>,
    /// /3/0/10 (reported in KiB), in bytes.
    pub memory_free_bytes: Option<i64>,
    /// /3/0/21 (reported in KiB), in bytes.
    pub memory_total_bytes: Option<i64>,
}

impl DeviceReport {
    /// The report in the values of a read of /3/0 (other resources are ignored).
    pub fn from_values(values: &[(ResourcePath, Value)]) -> Self {
        let text = |id: u16| {
            values
                .iter()
                .find(|(p, _)| p.resource == Some(id) && p.resource_instance.is_none())
                .and_then(|(_, v)| v.as_text())
        };
        let kib = |id: u16| {
            values
                .iter()
                .find(|(p, _)| p.resource == Some(id))
                .and_then(|(_, v)| v.as_i64())
                .map(|k| k.saturating_mul(1024))
        };
        Self {
            manufacturer: text(0),
            model_number: text(1),
            serial_number: text(2),
            firmware_version: text(3),
            memory_free_bytes: kib(10),
            memory_total_bytes: kib(21),
        }
    }
}

/// A kind of IPSO sensor object (OMA LwM2M Registry, objects 3301–3334).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SensorKind {
    /// 3301 Illuminance.
    Light,
    /// 3302 Presence.
    Proximity,
    /// 3303 Temperature.
    Temperature,
    /// 3304 Humidity.
    Humidity,
    /// 3313 Accelerometer.
    Accelerometer,
    /// 3314 Magnetometer.
    Magnetometer,
    /// 3315 Barometer.
    Pressure,
    /// 3324 Loudness.
    Microphone,
    /// 3330 Distance.
    Distance,
    /// 3334 Gyrometer.
    Gyroscope,
}

impl SensorKind {
    /// The kind an IPSO object number stands for, if it is a sensor.
    pub fn of_object(object: u16) -> Option<Self> {
        Some(match object {
            3301 => Self::Light,
            3302 => Self::Proximity,
            3303 => Self::Temperature,
            3304 => Self::Humidity,
            3313 => Self::Accelerometer,
            3314 => Self::Magnetometer,
            3315 => Self::Pressure,
            3324 => Self::Microphone,
            3330 => Self::Distance,
            3334 => Self::Gyroscope,
            _ => return None,
        })
    }

    /// Its name (lowercase, one word).
    pub fn name(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Proximity => "proximity",
            Self::Temperature => "temperature",
            Self::Humidity => "humidity",
            Self::Accelerometer => "accelerometer",
            Self::Magnetometer => "magnetometer",
            Self::Pressure => "pressure",
            Self::Microphone => "microphone",
            Self::Distance => "distance",
            Self::Gyroscope => "gyroscope",
        }
    }
}

/// An IPSO sensor instance a registration announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnouncedSensor {
    /// The IPSO object number.
    pub object: u16,
    /// The instance.
    pub instance: u16,
    /// What it senses.
    pub kind: SensorKind,
}

impl Registration {
    /// The IPSO sensor instances this registration announces (objects without an instance, and
    /// objects that are not sensors, are left out).
    pub fn sensors(&self) -> Vec<AnnouncedSensor> {
        self.object_paths()
            .filter_map(|p| {
                Some(AnnouncedSensor {
                    object: p.object,
                    instance: p.instance?,
                    kind: SensorKind::of_object(p.object)?,
                })
            })
            .collect()
    }
}

impl Lwm2mServer {
    /// Reads a registered device's Object 3 instance (whole, or resource by resource where the
    /// client answers no instance read) and returns what it says.
    pub async fn read_device(&self, name: &str) -> Result<DeviceReport, Lwm2mError> {
        let values = self
            .read_instance(name, ResourcePath::instance(3, 0), &OBJECT3_RESOURCES)
            .await?;
        if values.is_empty() {
            return Err(Lwm2mError::Malformed("an empty answer to a read of /3/0".into()));
        }
        Ok(DeviceReport::from_values(&values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_texts_and_kib_and_ignores_the_rest() {
        let values = vec![
            (ResourcePath::resource(3, 0, 0), Value::String("ST".into())),
            (ResourcePath::resource(3, 0, 1), Value::String("B-L475E-IOT01A".into())),
            (ResourcePath::resource(3, 0, 10), Value::Integer(64)),
            (ResourcePath::resource(3, 0, 21), Value::Integer(i64::MAX)),
            (ResourcePath::resource(3, 0, 9), Value::Integer(100)),
        ];
        let report = DeviceReport::from_values(&values);
        assert_eq!(report.manufacturer.as_deref(), Some("ST"));
        assert_eq!(report.model_number.as_deref(), Some("B-L475E-IOT01A"));
        assert_eq!(report.memory_free_bytes, Some(65_536));
        assert_eq!(report.memory_total_bytes, Some(i64::MAX), "saturates, never wraps");
        assert_eq!(report.firmware_version, None);
    }

    #[test]
    fn ipso_objects_name_their_sensor_kinds() {
        assert_eq!(SensorKind::of_object(3324).map(SensorKind::name), Some("microphone"));
        assert_eq!(SensorKind::of_object(3), None);
    }
}
