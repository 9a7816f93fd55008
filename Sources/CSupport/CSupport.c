// Header-only helpers; this file gives SwiftPM a translation unit for the target.
#include "CSupport.h"
