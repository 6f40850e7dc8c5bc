# -*- encoding: utf-8 -*-
# stub: rack 2.0.1 ruby lib

Gem::Specification.new do |s|
  s.name = "rack".freeze
  s.version = "2.0.1"
  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? :required_rubygems_version=
  s.require_paths = ["lib".freeze]
  s.authors = ["Leah Neukirchen".freeze]
  s.licenses = ["MIT".freeze]
  s.summary = "a modular Ruby webserver interface".freeze
end
