//! The objects an SEAM client exposes: Server (1), Device (3), Firmware Update (5), Software
//! Management (9) and IPSO sensor objects, with their initial values.

use std::collections::BTreeMap;

use crate::content::{ResourcePath, Value};

/// What a simulated device says about itself (Object 3) and which sensors it carries.
#[derive(Debug, Clone)]
pub struct DeviceProfile {
    /// /3/0/0 Manufacturer.
    pub manufacturer: String,
    /// /3/0/1 Model Number: the registry maps it to a catalog board.
    pub model_number: String,
    /// /3/0/2 Serial Number.
    pub serial_number: String,
    /// /3/0/3 Firmware Version.
    pub firmware_version: String,
    /// /3/0/10 Memory Free, in KiB (LwM2M: storage available for data and software).
    pub memory_free_kib: i64,
    /// /3/0/21 Memory Total, in KiB.
    pub memory_total_kib: i64,
    /// IPSO object IDs of the sensors (3303 temperature, 3313 accelerometer, ...).
    pub sensors: Vec<u16>,
    /// Whether Object 9 (Software Management) is offered.
    pub software_management: bool,
    /// Whether Object 5 (Firmware Update) is offered.
    pub firmware_update: bool,
    /// Object 5's Firmware Update Delivery Method (/5/0/9): 0 pull only, 1 push only, 2 both.
    pub firmware_delivery_method: i64,
}

impl DeviceProfile {
    /// A profile with the given identity and no sensors, offering Objects 5 and 9.
    pub fn new(manufacturer: &str, model_number: &str, serial_number: &str) -> Self {
        Self {
            manufacturer: manufacturer.to_owned(),
            model_number: model_number.to_owned(),
            serial_number: serial_number.to_owned(),
            firmware_version: "1.0.0".to_owned(),
            memory_free_kib: 512,
            memory_total_kib: 1024,
            sensors: Vec::new(),
            software_management: true,
            firmware_update: true,
            firmware_delivery_method: 2,
        }
    }
}

/// IPSO objects SEAM knows, with the resources a reading carries and its unit.
pub const IPSO_SENSORS: &[(u16, &str, &str)] = &[
    (3301, "illuminance", "lx"),
    (3303, "temperature", "Cel"),
    (3304, "humidity", "%RH"),
    (3313, "accelerometer", "m/s2"),
    (3314, "magnetometer", "uT"),
    (3315, "barometer", "hPa"),
    (3324, "loudness", "dB"),
    (3330, "distance", "m"),
    (3334, "gyrometer", "deg/s"),
    (3302, "presence", ""),
];

/// The resource values of a client, keyed by resource (or resource-instance) path.
#[derive(Debug, Default, Clone)]
pub struct ObjectStore {
    values: BTreeMap<ResourcePath, Value>,
}

impl ObjectStore {
    /// The initial objects of a device with `profile`, registered with `lifetime`.
    pub fn for_profile(profile: &DeviceProfile, lifetime: u32) -> Self {
        let mut store = Self::default();
        let s = |text: &str| Value::String(text.to_owned());
        store.set(ResourcePath::resource(1, 0, 0), Value::Integer(1));
        store.set(ResourcePath::resource(1, 0, 1), Value::Integer(i64::from(lifetime)));
        store.set(ResourcePath::resource(1, 0, 7), s("U"));
        for (id, value) in [
            (0, s(&profile.manufacturer)),
            (1, s(&profile.model_number)),
            (2, s(&profile.serial_number)),
            (3, s(&profile.firmware_version)),
            (9, Value::Integer(100)),
            (10, Value::Integer(profile.memory_free_kib)),
            (11, Value::Integer(0)),
            (16, s("U")),
            (17, s("TinyML sensor node")),
            (21, Value::Integer(profile.memory_total_kib)),
        ] {
            store.set(ResourcePath::resource(3, 0, id), value);
        }
        if profile.firmware_update {
            for (id, value) in [
                (1, s("")),
                (3, Value::Integer(0)),
                (5, Value::Integer(0)),
                (6, s("")),
                (7, s("")),
                (9, Value::Integer(profile.firmware_delivery_method)),
            ] {
                store.set(ResourcePath::resource(5, 0, id), value);
            }
        }
        if profile.software_management {
            for (id, value) in [
                (0, s("")),
                (1, s("")),
                (7, Value::Integer(0)),
                (9, Value::Integer(0)),
                (12, Value::Boolean(false)),
            ] {
                store.set(ResourcePath::resource(9, 0, id), value);
            }
        }
        for object in &profile.sensors {
            let unit = IPSO_SENSORS
                .iter()
                .find(|(id, _, _)| id == object)
                .map_or("", |(_, _, u)| *u);
            if *object == 3313 || *object == 3314 || *object == 3334 {
                for axis in [5702, 5703, 5704] {
                    store.set(ResourcePath::resource(*object, 0, axis), Value::Float(0.0));
                }
            } else {
                store.set(ResourcePath::resource(*object, 0, 5700), Value::Float(21.5));
            }
            store.set(ResourcePath::resource(*object, 0, 5701), s(unit));
        }
        store
    }

    /// Sets one resource value.
    pub fn set(&mut self, path: ResourcePath, value: Value) {
        self.values.insert(path, value);
    }

    /// One resource value.
    pub fn get(&self, path: ResourcePath) -> Option<&Value> {
        self.values.get(&path)
    }

    /// Every value at or below `path`, in path order.
    pub fn under(&self, path: ResourcePath) -> Vec<(ResourcePath, Value)> {
        self.values
            .iter()
            .filter(|(p, _)| covers(path, **p))
            .map(|(p, v)| (*p, v.clone()))
            .collect()
    }

    /// The object instances present, as `/object/instance` paths.
    pub fn instances(&self) -> Vec<ResourcePath> {
        let mut out: Vec<ResourcePath> = self
            .values
            .keys()
            .filter_map(|p| p.instance.map(|i| ResourcePath::instance(p.object, i)))
            .collect();
        out.dedup();
        out
    }
}

/// Whether `outer` is `inner` or one of its ancestors.
pub fn covers(outer: ResourcePath, inner: ResourcePath) -> bool {
    outer.object == inner.object
        && (outer.instance.is_none() || outer.instance == inner.instance)
        && (outer.resource.is_none() || outer.resource == inner.resource)
        && (outer.resource_instance.is_none() || outer.resource_instance == inner.resource_instance)
}
