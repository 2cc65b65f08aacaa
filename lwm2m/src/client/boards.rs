//! Boards a simulated client can be: what each reports in Object 3 (manufacturer, model number,
//! memory) and which IPSO objects its sensors appear as. Model numbers are those the catalog
//! lists (`seam:modelNumber`), except `unknown`, which no catalog knows. Sensors a board has but
//! IPSO defines no object for (cameras) come from the catalog's description of the board.

use super::DeviceProfile;

/// One board a simulated client can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// The name the simulator knows it by.
    pub name: &'static str,
    /// Object 3 Manufacturer.
    pub manufacturer: &'static str,
    /// Object 3 Model Number.
    pub model_number: &'static str,
    /// Object 3 Memory Free, KiB.
    pub memory_free_kib: i64,
    /// Object 3 Memory Total, KiB.
    pub memory_total_kib: i64,
    /// IPSO objects of its sensors.
    pub sensors: &'static [u16],
}

/// Every board the simulator can be.
pub const BOARDS: &[Board] = &[
    Board {
        name: "b-l475e-iot01a",
        manufacturer: "STMicroelectronics",
        model_number: "B-L475E-IOT01A",
        memory_free_kib: 704,
        memory_total_kib: 1024,
        sensors: &[3303, 3304, 3313, 3314, 3315, 3334, 3330],
    },
    Board {
        name: "arduino-nano-33-ble-sense",
        manufacturer: "Arduino",
        model_number: "ABX00031",
        memory_free_kib: 832,
        memory_total_kib: 1024,
        sensors: &[3303, 3304, 3313, 3314, 3315, 3324, 3334, 3302],
    },
    Board {
        name: "nrf52840-dk",
        manufacturer: "Nordic Semiconductor",
        model_number: "nrf52840dk_nrf52840",
        memory_free_kib: 768,
        memory_total_kib: 1024,
        sensors: &[3303],
    },
    Board {
        name: "esp32-s3-devkitc-1",
        manufacturer: "Espressif",
        model_number: "esp32s3_devkitc",
        memory_free_kib: 6144,
        memory_total_kib: 8192,
        sensors: &[],
    },
    Board {
        name: "max78000fthr",
        manufacturer: "Analog Devices",
        model_number: "MAX78000FTHR",
        memory_free_kib: 384,
        memory_total_kib: 512,
        sensors: &[3324],
    },
    Board {
        name: "sony-spresense",
        manufacturer: "Sony",
        model_number: "CXD5602PWBMAIN1",
        memory_free_kib: 7168,
        memory_total_kib: 8192,
        sensors: &[],
    },
    Board {
        name: "unknown",
        manufacturer: "ACME Sensing",
        model_number: "ACME-X1000",
        memory_free_kib: 100,
        memory_total_kib: 256,
        sensors: &[3303, 3313],
    },
];

/// The board named `name`.
pub fn board(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

impl Board {
    /// The Object 3 profile of device number `serial` of this board.
    pub fn profile(&self, serial: usize) -> DeviceProfile {
        let mut p = DeviceProfile::new(self.manufacturer, self.model_number, &format!("SIM-{serial:06}"));
        p.memory_free_kib = self.memory_free_kib;
        p.memory_total_kib = self.memory_total_kib;
        p.sensors = self.sensors.to_vec();
        p.firmware_version = "1.0.0-sim".to_owned();
        p
    }
}
