// shewhart-sim: a simulated production line for demos and tests.
//
// Publishes, for every unit, a unit event followed by one measurement of a single
// characteristic, as JSON (DESIGN.md "Wire format"), one message per ZeroMQ frame on a
// PUSH socket that connects to the engine's PULL socket. Units go round-robin over stations
// st1..stN. Values are drawn from N(mean, sigma) with a seeded std::mt19937_64, so a run is
// reproducible; after --drift-after seconds of event time one station drifts upward by
// --drift-per-unit sigma per unit, which is what the demo's charts are meant to catch.
//
// Event time (`ts`, integer epoch milliseconds) starts at --start-ts and advances 1000/rate
// ms per unit; it is independent of wall time, which is only used for pacing, --duration and
// progress reports. Exit codes: 0 done (including a stop on SIGINT/SIGTERM), 1 ZeroMQ error,
// 2 usage error.

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <zmq.hpp>

#include "cli_validators.h"

using shewhart::app::kDigits;
using shewhart::app::kFinite;
using shewhart::app::kNonNegative;

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kLingerMs = 2000;            // how long queued frames may flush at exit
constexpr int kSendPollMs = 100;           // wake-up period while the send queue is full
constexpr auto kSleepSlice = std::chrono::milliseconds(100);  // wake-up period while pacing
constexpr auto kProgressPeriod = std::chrono::seconds(5);
constexpr auto kMidUnitGrace = std::chrono::milliseconds(kLingerMs);
constexpr int kMaxStations = 10000;

// Set by the signal handler, read by the main loop. Holds the signal number, 0 if none.
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void OnStopSignal(int signal_number) { g_stop_signal = signal_number; }

// Installs OnStopSignal for SIGINT and SIGTERM. SA_RESETHAND restores the default action, so
// a second Ctrl-C kills a run that is stuck flushing. No SA_RESTART: blocking calls return
// EINTR and the loop notices the flag promptly.
void InstallStopHandlers() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

struct SimOptions {
  std::string connect = "tcp://127.0.0.1:5555";
  int stations = 3;
  std::string characteristic = "bore_diameter";
  double mean = 74.0;
  double sigma = 0.01;
  double rate = 200.0;      // units per second over all stations; 0 = unpaced
  double duration_s = 0.0;  // wall seconds; 0 = no limit
  std::uint64_t units = 0;  // 0 = no limit
  std::string drift_station = "st2";
  double drift_after_s = 10.0;
  double drift_per_unit = 0.05;  // sigmas added per drifting unit
  std::uint64_t seed = 1;
  std::int64_t start_ts_ms = 0;  // filled from the wall clock unless --start-ts is given
  std::string model = "PB-10K";
  int lot_size = 50;
  bool quiet = false;
};

// Fixed-point digits for values: at least 6 (the documented default), more when sigma is so
// small that 6 decimals would quantise the noise (resolution kept at or below sigma/1000).
int ValuePrecision(double sigma) {
  if (!(sigma > 0.0)) return 6;
  const int digits = static_cast<int>(std::ceil(-std::log10(sigma))) + 3;
  return std::clamp(digits, 6, 12);
}

// Per-station identity and counters. Names are st<k>, M-st<k>, op<k>; the lot id changes
// every lot_size units of that station: L-st<k>-0001, L-st<k>-0002, ...
struct Station {
  std::string name;
  std::string machine;
  std::string operator_id;
  std::string lot;
  std::uint64_t units = 0;           // units produced here so far
  std::uint64_t drifting_units = 0;  // units produced here since the drift began
};

std::vector<Station> MakeStations(int count) {
  std::vector<Station> stations(static_cast<std::size_t>(count));
  for (int k = 1; k <= count; ++k) {
    Station& station = stations[static_cast<std::size_t>(k - 1)];
    station.name = "st" + std::to_string(k);
    station.machine = "M-" + station.name;
    station.operator_id = "op" + std::to_string(k);
  }
  return stations;
}

void UpdateLot(Station& station, int lot_size) {
  const std::uint64_t lot_number = station.units / static_cast<std::uint64_t>(lot_size) + 1;
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "L-%s-%04" PRIu64, station.name.c_str(), lot_number);
  station.lot = buffer;
}

// What one unit looks like on the wire; the strings point into long-lived storage.
struct UnitRecord {
  const char* serial;
  const Station* station;
  std::int64_t ts_ms;
  double value;
};

// The wire format's JSON (nlohmann, keys in the order written here; text that is not UTF-8
// becomes U+FFFD rather than an exception).
std::string Dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// {"unit":..,"station":..,"ts":..,"lots":[..],"machine":..,"operator":..,"model":..}
void FormatUnitEvent(std::string& out, const UnitRecord& unit, const std::string& model) {
  out = Dump(nlohmann::ordered_json{{"unit", unit.serial},
                                    {"station", unit.station->name},
                                    {"ts", unit.ts_ms},
                                    {"lots", nlohmann::ordered_json::array({unit.station->lot})},
                                    {"machine", unit.station->machine},
                                    {"operator", unit.station->operator_id},
                                    {"model", model}});
}

// {"characteristic":..,"value":..,"ts":..,"serial":..,"station":..,"machine":..,
//  "operator":..,"lot":..,"model":..}; the value rounded to `precision` decimals (written as the
// shortest text that reads back as that number).
void FormatMeasurement(std::string& out, const UnitRecord& unit, const std::string& characteristic,
                       const std::string& model, int precision) {
  // snprintf("%f") is locale dependent in principle; this program never calls setlocale, so
  // it runs in the "C" locale and always prints '.' as the decimal point.
  char value[64];
  std::snprintf(value, sizeof value, "%.*f", precision, unit.value);
  out = Dump(nlohmann::ordered_json{{"characteristic", characteristic},
                                    {"value", std::strtod(value, nullptr)},
                                    {"ts", unit.ts_ms},
                                    {"serial", unit.serial},
                                    {"station", unit.station->name},
                                    {"machine", unit.station->machine},
                                    {"operator", unit.station->operator_id},
                                    {"lot", unit.station->lot},
                                    {"model", model}});
}

// Answers "should the run stop now?": a SIGINT/SIGTERM arrived, or --duration has passed.
class StopCheck {
 public:
  explicit StopCheck(std::optional<Clock::time_point> deadline) : deadline_(deadline) {}

  bool operator()(Clock::time_point now) const {
    return g_stop_signal != 0 || (deadline_ && now >= *deadline_);
  }
  const std::optional<Clock::time_point>& deadline() const { return deadline_; }

 private:
  std::optional<Clock::time_point> deadline_;
};

// Prints one progress line to stderr every kProgressPeriod of wall time unless quiet.
class ProgressReporter {
 public:
  ProgressReporter(Clock::time_point start, bool quiet)
      : start_(start), next_(start + kProgressPeriod), quiet_(quiet) {}

  void MaybeReport(Clock::time_point now, std::uint64_t units, std::uint64_t messages,
                   double event_offset_s) {
    if (quiet_ || now < next_) return;
    const double elapsed_s = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr,
                 "progress: %" PRIu64 " units (%" PRIu64
                 " messages) in %.1f s, %.1f units/s, event time +%.3f s\n",
                 units, messages, elapsed_s, elapsed_s > 0 ? units / elapsed_s : 0.0,
                 event_offset_s);
    while (next_ <= now) next_ += kProgressPeriod;
  }

 private:
  Clock::time_point start_;
  Clock::time_point next_;
  bool quiet_;
};

// Queues one frame on `socket`. While the queue is full (SNDHWM reached, e.g. no receiver)
// it retries every kSendPollMs. Returns true once queued; returns false if a stop was
// requested and the frame was still not queued `grace` after the stop was first seen.
// Throws zmq::error_t for any ZeroMQ error other than EINTR.
bool SendFrame(zmq::socket_t& socket, const std::string& frame, const StopCheck& stop,
               Clock::duration grace) {
  std::optional<Clock::time_point> give_up_at;
  for (;;) {
    try {
      if (socket.send(zmq::buffer(frame), zmq::send_flags::none)) return true;
    } catch (const zmq::error_t& error) {
      if (error.num() != EINTR) throw;
    }
    const Clock::time_point now = Clock::now();
    if (stop(now)) {
      if (!give_up_at) give_up_at = now + grace;
      if (now >= *give_up_at) return false;
    }
  }
}

// Sleeps until `due`, in slices so that a stop is noticed within kSleepSlice and progress keeps
// being reported during long gaps. Returns false if the run should stop instead.
bool WaitUntil(Clock::time_point due, const StopCheck& stop, ProgressReporter& progress,
               std::uint64_t units, std::uint64_t messages, double event_offset_s) {
  for (;;) {
    const Clock::time_point now = Clock::now();
    if (stop(now)) return false;
    if (now >= due) return true;
    progress.MaybeReport(now, units, messages, event_offset_s);
    Clock::time_point wake = std::min(due, now + kSleepSlice);
    if (stop.deadline()) wake = std::min(wake, *stop.deadline());
    std::this_thread::sleep_until(wake);
  }
}

std::string FormatNumber(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

// Runs the simulation. `drift_index` is the 0-based index of the drifting station, or empty
// for no drift. Returns the process exit code; throws zmq::error_t on ZeroMQ errors.
int Run(const SimOptions& options, std::optional<std::size_t> drift_index) {
  std::vector<Station> stations = MakeStations(options.stations);
  // stations.size() matches no station. (A plain index also sidesteps GCC 12's false
  // -Wmaybe-uninitialized on std::optional once Run is inlined into main.)
  const std::size_t drifting_station = drift_index.value_or(stations.size());

  const int precision = ValuePrecision(options.sigma);

  // 1000/rate ms of event time per unit; 1 ms per unit when unpaced.
  const double step_ms = options.rate > 0 ? 1000.0 / options.rate : 1.0;
  const double drift_after_ms = options.drift_after_s * 1000.0;

  zmq::context_t context(1);
  zmq::socket_t socket(context, zmq::socket_type::push);
  socket.set(zmq::sockopt::linger, kLingerMs);
  socket.set(zmq::sockopt::sndtimeo, kSendPollMs);
  try {
    socket.connect(options.connect);
  } catch (const zmq::error_t& error) {
    std::fprintf(stderr, "shewhart-sim: cannot connect to '%s': %s\n", options.connect.c_str(),
                 error.what());
    return 1;
  }

  if (drift_index) {
    std::fprintf(stderr, "drift: station %s after %s s of event time, %+g sigma per unit\n",
                 options.drift_station.c_str(), FormatNumber(options.drift_after_s).c_str(),
                 options.drift_per_unit);
  } else {
    std::fprintf(stderr, "drift: none (%s)\n",
                 options.drift_per_unit == 0.0
                     ? "--drift-per-unit is 0"
                     : ("station " + options.drift_station + " is not one of st1..st" +
                        std::to_string(options.stations))
                           .c_str());
  }

  InstallStopHandlers();

  std::mt19937_64 engine(options.seed);
  std::normal_distribution<double> noise(0.0, 1.0);

  const Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> deadline;
  if (options.duration_s > 0) {
    deadline = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(options.duration_s));
  }
  const StopCheck stop(deadline);
  ProgressReporter progress(start, options.quiet);

  std::string frame;
  frame.reserve(512);
  char serial[32];
  std::uint64_t units_sent = 0;
  std::uint64_t messages_sent = 0;
  bool partial_unit = false;  // a unit event went out but its measurement did not

  for (std::uint64_t i = 0; options.units == 0 || i < options.units; ++i) {
    const double event_offset_ms = static_cast<double>(i) * step_ms;
    if (options.rate > 0) {
      const auto due = start + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(i / options.rate));
      if (!WaitUntil(due, stop, progress, units_sent, messages_sent, event_offset_ms / 1000.0)) {
        break;
      }
    } else if (stop(Clock::now())) {
      break;
    }

    const std::size_t station_index = i % stations.size();
    Station& station = stations[station_index];
    UpdateLot(station, options.lot_size);

    double shift_sigmas = 0.0;
    if (station_index == drifting_station && event_offset_ms >= drift_after_ms) {
      ++station.drifting_units;
      shift_sigmas = options.drift_per_unit * static_cast<double>(station.drifting_units);
    }
    // One draw per unit whatever the station, so a seed fixes the whole sequence.
    const double z = noise(engine);

    std::snprintf(serial, sizeof serial, "SN%08" PRIu64, i + 1);
    const UnitRecord unit{serial, &station,
                          options.start_ts_ms + std::llround(event_offset_ms),
                          options.mean + options.sigma * (z + shift_sigmas)};
    ++station.units;

    FormatUnitEvent(frame, unit, options.model);
    if (!SendFrame(socket, frame, stop, Clock::duration::zero())) break;
    ++messages_sent;

    // The unit event is queued: try to complete the pair even if a stop arrives meanwhile.
    FormatMeasurement(frame, unit, options.characteristic, options.model, precision);
    if (!SendFrame(socket, frame, stop, kMidUnitGrace)) {
      partial_unit = true;
      break;
    }
    ++messages_sent;
    ++units_sent;

    progress.MaybeReport(Clock::now(), units_sent, messages_sent,
                         (event_offset_ms + step_ms) / 1000.0);
  }

  const double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  if (g_stop_signal != 0) {
    std::fprintf(stderr, "stopping on %s\n", g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
  }
  if (partial_unit) {
    std::fprintf(stderr,
                 "warning: unit SN%08" PRIu64 " sent without its measurement (send queue full "
                 "at stop)\n",
                 units_sent + 1);
  }
  std::fprintf(stderr, "sent %" PRIu64 " units (%" PRIu64 " messages) in %.3f s\n", units_sent,
               messages_sent, elapsed_s);
  // socket and context close here; ZMQ_LINGER bounds the wait for queued frames to flush.
  return 0;
}


}  // namespace

int main(int argc, char** argv) {
  SimOptions options;
  CLI::App app{
      "shewhart-sim: simulated production line. For each unit (round-robin over stations "
      "st1..stN) sends a JSON unit event, then one JSON measurement, each as one ZeroMQ frame "
      "on a PUSH socket. Event time starts at --start-ts and advances 1000/rate ms per unit. "
      "Stops at --units, --duration, or SIGINT/SIGTERM; queued frames get up to 2 s to flush.",
      "shewhart-sim"};

  app.add_option("--connect", options.connect, "ZeroMQ address the PUSH socket connects to")
      ->capture_default_str();
  app.add_option("--stations", options.stations, "number of stations, named st1..stN")
      ->check(CLI::Range(1, kMaxStations))
      ->capture_default_str();
  app.add_option("--characteristic", options.characteristic,
                 "characteristic id in every measurement")
      ->capture_default_str();
  app.add_option("--mean", options.mean, "process mean of the values")
      ->check(kFinite)
      ->capture_default_str();
  app.add_option("--sigma", options.sigma, "process standard deviation of the values")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--rate", options.rate,
                 "units per second across all stations, paced in wall time; 0 = as fast as "
                 "possible (event time then advances 1 ms per unit)")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--duration", options.duration_s,
                 "stop after this many wall-clock seconds; 0 = no limit")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--units", options.units, "stop after this many units in total; 0 = no limit")
      ->check(kDigits)
      ->capture_default_str();
  auto* drift_station_option =
      app.add_option("--drift-station", options.drift_station,
                     "station whose mean drifts (no drift if the default is not among st1..stN)")
          ->capture_default_str();
  app.add_option("--drift-after", options.drift_after_s,
                 "seconds of event time after which the drift starts")
      ->check(kNonNegative)
      ->capture_default_str();
  app.add_option("--drift-per-unit", options.drift_per_unit,
                 "sigmas added to the drift station's mean at each of its units once drifting "
                 "(the k-th drifting unit is shifted by k times this); 0 = no drift")
      ->check(kFinite)
      ->capture_default_str();
  app.add_option("--seed", options.seed, "seed of the std::mt19937_64 value generator")
      ->check(kDigits)
      ->capture_default_str();
  auto* start_ts_option =
      app.add_option("--start-ts", options.start_ts_ms,
                     "event time of the first unit, Unix epoch milliseconds "
                     "(default: the current wall clock)")
          ->check(kDigits);
  app.add_option("--model", options.model, "product model in every message")
      ->capture_default_str();
  app.add_option("--lot-size", options.lot_size,
                 "units per lot at each station; lot ids run L-st1-0001, L-st1-0002, ...")
      ->check(CLI::Range(1, 1000000000))
      ->capture_default_str();
  app.add_flag("--quiet", options.quiet, "no progress lines (every 5 s otherwise)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == static_cast<int>(CLI::ExitCodes::Success) ? 0 : 2;
  }

  if (start_ts_option->count() == 0) {
    options.start_ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  }

  // The drift station must be st<k> with 1 <= k <= stations. A mistyped --drift-station is a
  // usage error; the default simply means "no drift" when there are fewer stations.
  std::optional<std::size_t> drift_index;
  const std::string& drift_name = options.drift_station;
  if (drift_name.size() > 2 && drift_name.size() <= 7 && drift_name.compare(0, 2, "st") == 0 &&
      drift_name[2] != '0' &&
      std::all_of(drift_name.begin() + 2, drift_name.end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    const int number = std::stoi(drift_name.substr(2));
    if (number <= options.stations) drift_index = static_cast<std::size_t>(number - 1);
  }
  if (!drift_index && drift_station_option->count() > 0) {
    std::fprintf(stderr,
                 "--drift-station: station '%s' is not one of st1..st%d\nRun with --help for "
                 "more information.\n",
                 drift_name.c_str(), options.stations);
    return 2;
  }
  // Passed as a plain value: g++ 12 misreads the optional's engaged flag here as maybe unset
  // (-Wmaybe-uninitialized) once Run is inlined.
  const std::size_t no_drift = static_cast<std::size_t>(-1);
  const std::size_t drifting = options.drift_per_unit == 0.0 ? no_drift : drift_index.value_or(no_drift);

  try {
    return Run(options, drifting == no_drift ? std::nullopt : std::optional<std::size_t>(drifting));
  } catch (const zmq::error_t& error) {
    std::fprintf(stderr, "shewhart-sim: ZeroMQ error: %s\n", error.what());
    return 1;
  }
}
