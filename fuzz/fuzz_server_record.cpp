// Fuzzes the signed ServerRecords a client reads from the DHT (anyone can put values there).
// check_signed() promises never to throw for bad input, so nothing is caught here.
#include "fuzz_common.hpp"
#include "petalsln/swarm/server_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  const std::string_view bytes = fuzz::as_text(data, size);
  const RecordCheck check = ServerRecord::check_signed(bytes, 1'700'000'000);
  const bool verified = check.problem == RecordProblem::none || check.problem == RecordProblem::expired ||
                        check.problem == RecordProblem::issued_in_future;
  fuzz::require(verified == check.record.has_value(), "ServerRecord check carries a record iff it verified");
  fuzz::require(check.ok() == check.reason.empty(), "ServerRecord check has a reason iff it failed");
  if (check.record) (void)check.record->field_problem();
  fuzz::expect_rejection([&] { (void)ServerRecord::verify_signed(bytes, 1'700'000'000, 512); });
  return 0;
}
