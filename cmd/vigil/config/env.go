package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts the name of every environment variable that overrides
// a key: VIGIL_ followed by the key's path in upper case, sections joined
// by underscores (store.url is VIGIL_STORE_URL, bus.kafka.sasl.username is
// VIGIL_BUS_KAFKA_SASL_USERNAME).
const EnvPrefix = "VIGIL_"

var durationType = reflect.TypeFor[time.Duration]()

// EnvKeys returns the names of the variables that override keys, in the
// order of the keys. Lists of scalars take comma-separated values; lists of
// mappings (notify destinations and routes) are not overridable.
func EnvKeys() []string {
	var keys []string
	walkEnv(reflect.ValueOf(&Config{}).Elem(), strings.TrimSuffix(EnvPrefix, "_"), func(name string, _ reflect.Value) error {
		keys = append(keys, name)
		return nil
	})
	return keys
}

// ApplyEnv overrides the keys of c named by variables in lookup (e.g.
// os.LookupEnv) and returns the names of the variables it applied.
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) ([]string, error) {
	var applied []string
	err := walkEnv(reflect.ValueOf(c).Elem(), strings.TrimSuffix(EnvPrefix, "_"), func(name string, v reflect.Value) error {
		s, ok := lookup(name)
		if !ok {
			return nil
		}
		if err := setScalar(v, s); err != nil {
			return fmt.Errorf("%s=%q: %w", name, s, err)
		}
		applied = append(applied, name)
		return nil
	})
	return applied, err
}

// walkEnv calls f with the variable name and the value of every scalar
// field (and list of scalars) reachable through structs with yaml tags.
func walkEnv(v reflect.Value, prefix string, f func(name string, v reflect.Value) error) error {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if !sf.IsExported() || tag == "-" || tag == "" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		switch {
		case fv.Kind() == reflect.Struct:
			if err := walkEnv(fv, name, f); err != nil {
				return err
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() != reflect.String:
			// lists of mappings are set in the file only
		case fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Map || fv.Kind() == reflect.Interface || fv.Kind() == reflect.Func:
		default:
			if err := f(name, fv); err != nil {
				return err
			}
		}
	}
	return nil
}

func setScalar(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Float64, reflect.Float32:
		x, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil {
			return err
		}
		v.SetFloat(x)
	case reflect.Slice:
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		v.Set(reflect.ValueOf(items).Convert(v.Type()))
	default:
		return fmt.Errorf("cannot set a %s from the environment", v.Type())
	}
	return nil
}
