// Path helpers shared by the examples and the server.

#include <doctest/doctest.h>

#include "petalsln/util/files.hpp"

using petalsln::util::base_name;

TEST_CASE("base_name takes the last path component, ignoring trailing slashes") {
  CHECK(base_name("examples/demo-model") == "demo-model");
  CHECK(base_name("examples/demo-model/") == "demo-model");
  CHECK(base_name("/models/SmolLM2//") == "SmolLM2");
  CHECK(base_name("demo") == "demo");
  CHECK(base_name("/").empty());  // the root has no name
}
