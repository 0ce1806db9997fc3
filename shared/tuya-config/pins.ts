/**
 * What Tuya's `user_param_key` pin keys mean, as data. Key names from the public readers
 * (openshwprojects/BK7231GUIFlashTool BK7231Flasher/Utils/TuyaConfig.cs) and real
 * configs: `<name>_pin` holds the GPIO, `<name>_lv` its active level (1 = high).
 * `obk` is the OpenBeken pin role for active-high / active-low (null: no role; the pin is
 * reported but left out of the template). OpenBeken's Btn is the pulled-up, active-low button.
 */

export type PinFunction =
  | "relay"
  | "relay-bridge-on"
  | "relay-bridge-off"
  | "button"
  | "button-all"
  | "led"
  | "wifi-led"
  | "bl0937-cf"
  | "bl0937-cf1"
  | "bl0937-sel"
  | "i2c-scl"
  | "i2c-sda"
  | "pwm"
  | "ir-rx"
  | "ir-tx"
  | "input"
  | "adc"
  | "other";

export interface PinRule {
  key: RegExp;
  fn: PinFunction;
  meaning: string;
  /** [active high, active low] OpenBeken roles; level unknown → the first */
  obk: [string, string] | null;
  /** channel from the key's number (rl2_pin → 2); `fixed` when the role needs none */
  channel?: "number" | "one";
  /** Default active level when the config has no `_lv` key. */
  defaultLevel?: "high" | "low";
}

export const PIN_RULES: PinRule[] = [
  {
    key: /^rl(\d+)_pin$/,
    fn: "relay",
    meaning: "relay",
    obk: ["Rel", "Rel_n"],
    channel: "number",
    defaultLevel: "high",
  },
  {
    key: /^rl_on(\d+)_pin$/,
    fn: "relay-bridge-on",
    meaning: "latching relay, ON coil",
    obk: ["BridgeFWD", "BridgeFWD"],
    channel: "number",
  },
  {
    key: /^rl_off(\d+)_pin$/,
    fn: "relay-bridge-off",
    meaning: "latching relay, OFF coil",
    obk: ["BridgeREV", "BridgeREV"],
    channel: "number",
  },
  {
    key: /^bt_pin$|^reset_pin$/,
    fn: "button",
    meaning: "button",
    obk: ["Btn_n", "Btn"],
    channel: "one",
    defaultLevel: "low",
  },
  {
    key: /^bt(\d+)_pin$|^k(\d+)pin_pin$/,
    fn: "button",
    meaning: "button",
    obk: ["Btn_n", "Btn"],
    channel: "number",
    defaultLevel: "low",
  },
  {
    key: /^total_bt_pin$/,
    fn: "button-all",
    meaning: "all-channels button",
    obk: ["Btn_Tgl_All_n", "Btn_Tgl_All"],
    defaultLevel: "low",
  },
  { key: /^led(\d+)_pin$/, fn: "led", meaning: "channel LED", obk: ["LED", "LED_n"], channel: "number" },
  {
    key: /^(netled\d*|wfst|status_led)_pin$|^wfst$/,
    fn: "wifi-led",
    meaning: "Wi-Fi status LED",
    obk: ["WifiLED", "WifiLED_n"],
    defaultLevel: "low",
  },
  { key: /^backlit_io_pin$/, fn: "led", meaning: "backlight LED", obk: ["LED", "LED_n"] },
  { key: /^(ele_pin|epin)$/, fn: "bl0937-cf", meaning: "BL0937 CF (power pulses)", obk: ["BL0937CF", "BL0937CF"] },
  {
    key: /^(vi_pin|ivpin)$/,
    fn: "bl0937-cf1",
    meaning: "BL0937 CF1 (voltage/current pulses)",
    obk: ["BL0937CF1", "BL0937CF1"],
  },
  {
    key: /^(sel_pin_pin|ivcpin)$/,
    fn: "bl0937-sel",
    meaning: "BL0937 SEL (voltage/current select)",
    obk: ["BL0937SEL", "BL0937SEL_n"],
    defaultLevel: "high",
  },
  { key: /^(i2c_scl_pin|iicscl)$/, fn: "i2c-scl", meaning: "I²C SCL", obk: null },
  { key: /^(i2c_sda_pin|iicsda)$/, fn: "i2c-sda", meaning: "I²C SDA", obk: null },
  { key: /^([rgbcw])_pin$/, fn: "pwm", meaning: "PWM light channel", obk: ["PWM", "PWM_n"] },
  { key: /^(irpin|infrr)$/, fn: "ir-rx", meaning: "IR receiver", obk: ["IRRecv", "IRRecv"] },
  { key: /^infre$/, fn: "ir-tx", meaning: "IR transmitter", obk: ["IRSend", "IRSend"] },
  {
    key: /^(door\d+_magt|gate_sensor_pin|basic_pin)_pin$/,
    fn: "input",
    meaning: "sensor input",
    obk: ["dInput", "dInput_n"],
  },
  { key: /^samp_pin$/, fn: "adc", meaning: "battery ADC", obk: ["BAT_ADC", "BAT_ADC"] },
  { key: /^samp_sw_pin$/, fn: "other", meaning: "battery measurement switch", obk: ["BAT_Relay", "BAT_Relay_n"] },
  {
    key: /^onoff(\d+)$/,
    fn: "input",
    meaning: "wall-switch input",
    obk: ["TglChanOnTgl", "TglChanOnTgl"],
    channel: "number",
  },
  { key: /_pin$/, fn: "other", meaning: "other pin", obk: null },
];

/** BK7231N/T GPIO numbers a module can route (P0..P28, with gaps on modules). */
export const isGpio = (n: number) => Number.isInteger(n) && n >= 0 && n <= 28;
