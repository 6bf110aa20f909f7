package delta

import (
	"fmt"
)

// check refuses a ClusterConfig that NewCluster cannot run with; its errors wrap
// ErrInvalidConfig and name the field (TestNewClusterRefusesInvalidConfig).
func (cfg ClusterConfig) check() error {
	if isNil(cfg.Channel) {
		return fmt.Errorf("%w: ClusterConfig.Channel is required: the *channel.Channel the cluster listens on (channel.New, node.New)", ErrInvalidConfig)
	}
	if cfg.Codec != nil {
		if isNil(cfg.Codec) {
			return fmt.Errorf("%w: ClusterConfig.Codec is a nil %T: leave it nil for BinaryCodec", ErrInvalidConfig, cfg.Codec)
		}
		if err := checkCodec(cfg.Codec); err != nil {
			return fmt.Errorf("%w: ClusterConfig.Codec: %w", ErrInvalidConfig, err)
		}
	}
	if cfg.Logger != nil && cfg.Logger.Handler() == nil {
		return fmt.Errorf("%w: ClusterConfig.Logger has no handler: make it with slog.New, or leave it nil", ErrInvalidConfig)
	}
	return nil
}

// checkCodec refuses the negative limits of this package's codecs; a codec of another
// package is its own to check.
func checkCodec(c MessageCodec) error {
	switch x := c.(type) {
	case BinaryCodec:
		return x.check()
	case *BinaryCodec:
		return x.check()
	case JavaCodec:
		return x.check()
	case *JavaCodec:
		return x.check()
	}
	return nil
}

// check refuses a negative limit.
func (c BinaryCodec) check() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"MaxMessageSize", c.MaxMessageSize}, {"MaxStringLen", c.MaxStringLen}, {"MaxValueSize", c.MaxValueSize}, {"MaxEntries", c.MaxEntries}} {
		if f.v < 0 {
			return fmt.Errorf("negative BinaryCodec.%s %d", f.name, f.v)
		}
	}
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("BinaryCodec.Limits: %w", err)
	}
	return nil
}

// check refuses a negative limit.
func (c JavaCodec) check() error {
	switch {
	case c.MaxEntries < 0:
		return fmt.Errorf("negative JavaCodec.MaxEntries %d", c.MaxEntries)
	case c.MaxExpansion < 0:
		return fmt.Errorf("negative JavaCodec.MaxExpansion %d", c.MaxExpansion)
	}
	if err := c.Limits.Validate(); err != nil {
		return fmt.Errorf("JavaCodec.Limits: %w", err)
	}
	return nil
}
