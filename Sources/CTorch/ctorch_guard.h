// ctorch_guard.h — private to the shim's translation units (not in include/, so Swift never sees
// it): the thread-local error channel and the one guard every C entry point runs its body in, so
// that no C++ exception unwinds into Swift.
#pragma once

#include <c10/util/Exception.h>

#include <exception>

// Stores the message that ct_last_error() returns on this thread (defined in ctorch.cpp).
void ct_set_last_error(const char *message);

// Runs `body`; returns 0, or 1 with the exception's message stored for ct_last_error().
#define CT_GUARD(body)                                                  \
    try {                                                               \
        body;                                                           \
        return 0;                                                       \
    } catch (const c10::Error &error) {                                 \
        ct_set_last_error(error.what_without_backtrace());              \
    } catch (const std::exception &error) {                             \
        ct_set_last_error(error.what());                                \
    } catch (...) {                                                     \
        ct_set_last_error("unknown C++ exception");                     \
    }                                                                   \
    return 1;
