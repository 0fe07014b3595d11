/* Placeholder: the sample ops are being written. */
#pragma once
