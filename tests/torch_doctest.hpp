#pragma once
// libtorch pulls in glog, whose CHECK/CHECK_EQ/... macros abort the process and would silently
// replace doctest's assertions. Include torch first, drop glog's names, then doctest.

#include <torch/torch.h>

#undef CHECK
#undef CHECK_EQ
#undef CHECK_NE
#undef CHECK_LT
#undef CHECK_LE
#undef CHECK_GT
#undef CHECK_GE
#undef CHECK_NOTNULL

#include <doctest/doctest.h>
