/* Placeholder: the rope ops are being written. */
#pragma once
