/* Placeholder: the norm ops are being written. */
#pragma once
