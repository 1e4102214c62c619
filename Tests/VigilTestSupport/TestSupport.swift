// The shared test kit; filled by the tests that need it.
import VigilTracing
